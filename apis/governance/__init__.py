"""The governance service: the policy decision log, readable by administrators."""
