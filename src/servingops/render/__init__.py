"""Pure renderers: values from model.py in, strings out. Nothing here prints or does I/O."""
