"""Live subscribers: every message a live session or call sends, fanned out to
any number of listeners (`hub`: in-process, `redis_hub`: across gateways), and
what a session publishes besides its own socket (`fanout`: the hub, webhooks)."""
