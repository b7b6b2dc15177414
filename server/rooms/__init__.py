"""Rooms: entry policy and tier gate, live room state, participants, and the media relay."""
