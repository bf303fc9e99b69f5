-- Audit entries name the HTTP request or admin call that caused them (its
-- X-Request-Id); entries written before have none.
ALTER TABLE audit ADD COLUMN request_id TEXT;
