"""The strong version of "append-only": PostgreSQL itself refuses UPDATE and DELETE of
ledger rows, whatever code (raw SQL, a cascade, a shell) tries it. TRUNCATE is left
alone (test-database flushes use it; no application code does)."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION credits_refuse_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'credit transactions are append-only: % of row % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new refund, grant or adjustment instead.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER credits_credittransaction_append_only
    BEFORE UPDATE OR DELETE ON credits_credittransaction
    FOR EACH ROW EXECUTE FUNCTION credits_refuse_ledger_change();
"""

DROP = """
DROP TRIGGER IF EXISTS credits_credittransaction_append_only ON credits_credittransaction;
DROP FUNCTION IF EXISTS credits_refuse_ledger_change();
"""


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
