# Makes versions/ a package so non-editable installs ship the revision files; Alembic skips this file.
