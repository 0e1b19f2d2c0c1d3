"""An example third-party medden plugin: one noise, one network and one pipeline.

Registered through the entry points in this distribution's ``pyproject.toml``:

- noise ``stripe``: :class:`~medden_plugin_example.stripe.StripeNoise`
- model ``tiny_resnet``: :class:`~medden_plugin_example.tiny_resnet.TinyResNet`
- pipeline ``median_then_tiny``: :class:`~medden_plugin_example.pipeline.MedianThenTiny`
"""
