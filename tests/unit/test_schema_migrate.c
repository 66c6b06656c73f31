/* test_schema_migrate.c - the DDL generated for a model (quoted identifiers, triggers). */
#include "mc_error.h"
#include "mc_model.h"
#include "mc_test.h"
#include "schema_migrate.h"

static void test_table_sql(void)
{
    json_t *root = json_loads("{\"models\":{\"Dictionary\":{\"attributes\":{"
                              "\"word\":{\"type\":\"string\",\"required\":true,\"max_length\":200},"
                              "\"data\":{\"type\":\"json\"},\"note\":{\"type\":\"text\"}}}}}",
                              0, NULL);
    mc_schema_t *s = NULL;
    char err[256];
    MC_CHECK_INT(mc_schema_parse(root, "m.json", &s, err, sizeof err), MC_OK);
    char *sql = schema_table_sql(&s->models[0]);
    MC_CHECK_CONTAINS(sql, "CREATE TABLE IF NOT EXISTS \"dictionary\"");
    MC_CHECK_CONTAINS(sql, "id bigserial PRIMARY KEY");
    MC_CHECK_CONTAINS(sql, "version bigint NOT NULL DEFAULT 1");
    /* Strings order by bytes whatever the database's collation (docs/rest.md, "Order"). */
    MC_CHECK_CONTAINS(sql, "\"word\" varchar(200) COLLATE \"C\" NOT NULL");
    MC_CHECK_CONTAINS(sql, "\"note\" text COLLATE \"C\"\n");
    MC_CHECK_CONTAINS(sql, "\"data\" jsonb");
    MC_CHECK_CONTAINS(sql, "BEFORE INSERT OR UPDATE ON \"dictionary\"");
    MC_CHECK_CONTAINS(sql, "EXECUTE FUNCTION modelcast_capture('Dictionary')");
    free(sql);
    MC_CHECK_CONTAINS(schema_outbox_sql(), "CREATE TABLE IF NOT EXISTS modelcast_outbox");
    MC_CHECK_CONTAINS(schema_outbox_sql(), "NEW.version := OLD.version + 1");
    /* Events Kafka refuses are set aside there; other sessions than model-api's notify. */
    MC_CHECK_CONTAINS(schema_outbox_sql(), "CREATE TABLE IF NOT EXISTS modelcast_outbox_dead");
    MC_CHECK_CONTAINS(schema_outbox_sql(), "current_setting('modelcast.notify', true)");
    MC_CHECK_CONTAINS(schema_outbox_sql(), "pg_notify('modelcast_outbox', '')");
    mc_schema_free(s);
    json_decref(root);
}

int main(void)
{
    MC_TEST_RUN(test_table_sql);
    MC_TEST_DONE();
}
