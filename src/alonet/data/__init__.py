"""Data stage: reading image files (``imagefile``), photographs (``photo``) and annotations
(``annotation``), resizing (``resize``) and encoding them (``encode``; ``imageio`` re-exports
all five under their former name), converting folders of photographs and annotations into
a dataset (``convert``, which pairs the files with ``pairing`` and checks the manifest with
``manifest``) and opening a converted dataset (``dataset``)."""
