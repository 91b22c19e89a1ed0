-- A payment's request format (solana_pay, eip681, ... whatever its chain's adapter planned) and
-- the numeric chain id the request carries, stored when the payment is made. Before, every
-- reader guessed the format from `reference IS NULL`, which named the two chains we had.
ALTER TABLE payments ADD COLUMN request_type text, ADD COLUMN request_chain_id bigint;

UPDATE payments SET
    request_type = CASE WHEN reference IS NULL THEN 'eip681' ELSE 'solana_pay' END,
    request_chain_id = CASE WHEN reference IS NULL
        THEN substring(payment_url FROM '^ethereum:[^@/?]*@([0-9]+)')::bigint END;

ALTER TABLE payments ALTER COLUMN request_type SET NOT NULL;
