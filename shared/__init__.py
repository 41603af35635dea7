"""Common building blocks of every loa service: config, database, events, storage, errors,
logging and ids. Written once here so each service does each thing the same way."""
