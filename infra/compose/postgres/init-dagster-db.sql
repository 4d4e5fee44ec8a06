-- Runs once, when the PostgreSQL volume is first initialised: Dagster's own storage database,
-- owned by the application user (POSTGRES_USER). DreamSeed's database is POSTGRES_DB.
CREATE DATABASE dagster;
