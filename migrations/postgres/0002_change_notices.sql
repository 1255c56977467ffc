-- Tells the other replicas that tool approvals changed (`LISTEN mcpproxy_changes`), so each
-- reloads them and the admission rule agrees everywhere. The payload is the writer's
-- `application_name` ("mcpproxy:<replica id>"), by which a replica skips its own notices.
CREATE FUNCTION mcpproxy_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mcpproxy_changes', current_setting('application_name'));
    RETURN NULL;
END
$$;

CREATE TRIGGER tool_approvals_changed
    AFTER INSERT OR UPDATE OR DELETE ON tool_approvals
    FOR EACH STATEMENT EXECUTE PROCEDURE mcpproxy_notify_change();
