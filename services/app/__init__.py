"""What only the app uses: the cached reads of the pages (the one module that knows
Streamlit besides the pages), the charts' look, the URL filters, text made safe for Markdown,
and the HTTP side of signing in (the sign-in page, the gate before every request, the webhook
routes).

It may use every package below it; nothing in services/ imports it.
"""
