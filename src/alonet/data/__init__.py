"""Data stage: reading images and annotations (``imageio``), atomic writes
(``atomic``), converting folders of photographs and annotations into a dataset
(``convert``) and opening a converted dataset (``dataset``)."""
