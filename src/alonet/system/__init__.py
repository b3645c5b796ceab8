"""What every stage uses from the operating system: atomic writes (``atomic``), worker
processes that end with their parent (``processes``), checks that an output can be written
(``preflight``) and folder locks (``locks``). Imports nothing of AloNet but ``alonet.errors``."""
