"""Appearance of phantom clinical photographs.

``sample_look(rng)`` draws a patient's appearance once; ``render_view(scalp,
hairloss, view, look, rng, out_size=None, thinning=None, camera=None)`` turns
canonical masks into a photograph with its exact ground truth. Modules:
look (patient appearance), background, head (skull, face, ears, neck, body,
glasses), hair (flow fields and strands), skin (tones, shading, bald-skin
details), props (clips), camera (framing, optics, JPEG), compose (the order
of work).
"""

from alonet.phantom.render.camera import CameraConfig
from alonet.phantom.render.compose import RenderedView, render_view
from alonet.phantom.render.look import Look, sample_look, visit_look

__all__ = ["CameraConfig", "Look", "RenderedView", "render_view", "sample_look", "visit_look"]
