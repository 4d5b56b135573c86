"""The command line (click). Each concern adds its own command module here."""
