-- A client secret replaced by `tessera client rotate-secret --grace`: its digest, and
-- the Unix second from which it is refused (both null when there is none).
ALTER TABLE clients ADD COLUMN retiring_secret_digest TEXT;
ALTER TABLE clients ADD COLUMN retiring_secret_until BIGINT;
