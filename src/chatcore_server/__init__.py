"""The standalone chat server (`chatcore serve`): docs/server.md."""
