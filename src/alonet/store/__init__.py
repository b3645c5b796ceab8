"""The visit store: patients, visits and their photographs and masks in a SQLite database with
image files (``storage``), and its export as a training dataset (``export``). The web
application keeps patients in it; ``alonet convert --from-store`` and ``alonet adapt`` read it.
No Flask here: a script or ``adapt`` opens a store without the web application."""
