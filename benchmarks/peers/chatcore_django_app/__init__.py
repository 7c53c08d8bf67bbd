"""chatcore through its Django Channels adapter, with one room ``bench`` and no database."""
