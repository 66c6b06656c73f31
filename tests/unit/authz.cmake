mc_unit_test(test_delivery SOURCES test_delivery.c LIBS authz_core)
mc_unit_test(test_dedupe SOURCES test_dedupe.c LIBS authz_core)
mc_unit_test(test_authz_config SOURCES test_authz_config.c LIBS authz_core)
