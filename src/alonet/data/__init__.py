"""Data stage: reading images and annotations (``imageio``), converting folders of
photographs and annotations into a dataset (``convert``, which pairs the files with
``pairing`` and checks the manifest with ``manifest``) and opening a converted dataset
(``dataset``)."""
