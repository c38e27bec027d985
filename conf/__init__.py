"""imbexp's Hydra configs, installed as the package ``imbexp.conf`` so a wheel carries them."""
