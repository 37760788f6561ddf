"""Materials: what a texture or background class is synthesised from, and your own from photos.

- :mod:`~cgn_art.materials.synthesis`: tiling and blending from source pictures (any size, any seed);
- :mod:`~cgn_art.materials.photos`: a user's photos checked and kept at their own pixel scale;
- :mod:`~cgn_art.materials.fields`: putting materials into a model's texture or background mechanism;
- :mod:`~cgn_art.materials.store`: user models in the user-models folder (add, list, remove);
- :mod:`~cgn_art.materials.preview`: one material on its own, at any size.
"""
