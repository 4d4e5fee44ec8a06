-- Consent for external models (issues 16 and 20): the school's default is "no external models".
-- Nothing a student writes leaves for an external language model until an administrator allows
-- it (`dreamseed privacy consent --school allow`); a student may still opt out after that.
-- 0021 created the setting allowed; it is closed here for every deployment, privacy first.
-- Person columns: none.

alter table privacy.school_settings alter column external_models_allowed set default false;
update privacy.school_settings set external_models_allowed = false, updated_at = now();
