mc_unit_test(test_delivery SOURCES test_delivery.c LIBS authz_core)
