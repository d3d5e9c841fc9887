"""patch_torch.py — a PyTorch reference of gibbon's adversarial-patch training
step (Brown et al. 2017) on the same model, for bench/bench_patch.sh: per
step a batch of non-target images, a random placement per image (scale
jitter, rotation, location; the patch warped in with bilinear sampling and
zero padding via affine_grid/grid_sample), a transformation sample
(rotation, scale, brightness, Gaussian noise, clamp), the model, targeted
cross-entropy, backward to the patch, Adam. Prints images/s of training.
  /usr/bin/python3 bench/patch_torch.py MODEL STEPS BATCH TARGET AREA"""
import math
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, "tests/reference")
import attacks_torch as R  # noqa: E402


def theta_for(n, scale, rot, tx, ty):
    """affine_grid's theta (output -> input, normalized coords) for a
    similarity transform of the given scale (output size / input size)."""
    c, s = torch.cos(rot), torch.sin(rot)
    th = torch.zeros(n, 2, 3)
    th[:, 0, 0], th[:, 0, 1], th[:, 1, 0], th[:, 1, 1] = c / scale, s / scale, -s / scale, c / scale
    th[:, 0, 2], th[:, 1, 2] = tx, ty
    return th


def main():
    model_path, steps, batch, target, area = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    m = R.OnnxTorch(model_path).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    x_all, y_all = R.load_fmnist(4000)  # the test images stand in for a training pool
    keep = y_all != target
    x_all = x_all[keep]
    H = W = 28
    P = max(2, round(math.sqrt(area * H * W)))
    patch = torch.rand(1, 1, P, P, requires_grad=True)
    mask = torch.ones(1, 1, P, P)
    opt = torch.optim.Adam([patch], lr=0.05)
    tgt = torch.full((batch,), target, dtype=torch.long)
    t0 = time.time()
    for _ in range(steps):
        x = x_all[torch.randint(0, x_all.shape[0], (batch,))]
        side = math.sqrt(area * H * W) * (1 + 0.2 * (2 * torch.rand(batch) - 1))
        rot = (2 * torch.rand(batch) - 1) * 22.5 * math.pi / 180
        # centre so the square fits; normalized coordinates in [-1, 1]
        cx = (side / 2 + torch.rand(batch) * (W - side)) / W * 2 - 1
        cy = (side / 2 + torch.rand(batch) * (H - side)) / H * 2 - 1
        # image -> patch: scale image-normalized offsets by W / side
        th = theta_for(batch, side / W, rot, torch.zeros(batch), torch.zeros(batch))
        th[:, :, 2] = -(th[:, :, :2] @ torch.stack([cx, cy], 1).unsqueeze(2)).squeeze(2)
        grid = F.affine_grid(th, (batch, 1, H, W), align_corners=False)
        mp = F.grid_sample((mask * patch).expand(batch, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        wm = F.grid_sample(mask.expand(batch, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        pasted = (1 - wm) * x + mp
        # EOT sample: rotation +-10 deg, scale 0.9..1.1, brightness +-0.1, noise 0.01
        r2 = (2 * torch.rand(batch) - 1) * 10 * math.pi / 180
        s2 = 0.9 + 0.2 * torch.rand(batch)
        g2 = F.affine_grid(theta_for(batch, s2, r2, torch.zeros(batch), torch.zeros(batch)), (batch, 1, H, W), align_corners=False)
        t = F.grid_sample(pasted, g2, mode="bilinear", padding_mode="zeros", align_corners=False)
        t = t + (0.2 * torch.rand(batch, 1, 1, 1) - 0.1) + 0.01 * torch.randn_like(t)
        t = t.clamp(0, 1)
        loss = F.cross_entropy(m(t), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            patch.clamp_(0, 1)
    dt = time.time() - t0
    print(f"torch_images_per_s {steps * batch / dt:.1f}")
    print(f"torch_seconds {dt:.3f}")


if __name__ == "__main__":
    main()
