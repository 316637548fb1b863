"""One module per API area; every module here that defines ``bp`` is registered by
``api.create_app`` (no list to keep in sync)."""
