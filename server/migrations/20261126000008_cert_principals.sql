-- Agency systems may authenticate with a client certificate (mTLS): its subject names the principal.
ALTER TABLE principals ADD COLUMN cert_subject text UNIQUE;
