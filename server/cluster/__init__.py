"""Salon as several nodes on one Redis or Redis Cluster: the node registry (who is up, at
which URL, carrying what), room leases with fencing tokens (which node serves a room), and
placement (which node takes a new room). Imports only redis and server.ids/settings; the
app factory wires the registry in, server/rooms uses the leases."""
