"""The outside services: one HTTP client (``api``), the booking site's sync (Cal.com),
the video rooms (Whereby) and the vendors' webhooks.

They feed the domains (bookings through the importer, rooms and attendance into the
interviews and meetings), so they sit above them; nothing below may call a vendor.
"""
