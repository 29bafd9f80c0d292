"""bench.py --patch: deformable convs train through Paddle's deformable_conv op (the old route)."""
import paddle_octconv.plugins._deform as deform

deform._needs_grad = lambda *tensors: False
