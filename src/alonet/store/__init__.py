"""The visit store: patients, visits and their photographs and masks in a SQLite database with
image files (``storage``: the ``Store``; ``schema``: its tables and upgrades; ``records``: the
patients, visits and views it hands out; ``checks``: what a user types for it; ``errors``), a
patient's visits against the baseline (``responses``), and its export as a training dataset
(``export``). The web application keeps patients in it; ``alonet convert --from-store`` and
``alonet adapt`` read it. No Flask here: a script or ``adapt`` opens a store without the web
application."""
