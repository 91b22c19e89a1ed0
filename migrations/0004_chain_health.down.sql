DROP TABLE chain_health;
