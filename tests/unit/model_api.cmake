mc_unit_test(test_model SOURCES test_model.c LIBS mc_core)
mc_unit_test(test_schema_migrate SOURCES test_schema_migrate.c LIBS model_api_core)
mc_unit_test(test_list_query SOURCES test_list_query.c LIBS model_api_core)
mc_unit_test(test_pg_pool SOURCES test_pg_pool.c LIBS model_api_core)
