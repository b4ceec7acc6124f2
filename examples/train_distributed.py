"""
Training in several processes with torchrun
===========================================

``CorrNet(distributed=True)`` trains one model with every process of a
torch.distributed group, each process on its own rows. This script is not
run when the documentation is built: launch it with ``torchrun``, which
starts the processes and sets the variables (RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT) that CorrNet joins the group with::

    # 2 processes on this machine (Gloo on CPUs, NCCL on GPUs)
    torchrun --standalone --nproc_per_node 2 examples/train_distributed.py model.pkl

    # 2 machines with 4 GPUs each: run on every machine, node_rank 0 and 1
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 \\
        --master_addr host0 --master_port 29500 \\
        examples/train_distributed.py model.pkl

Each rank takes a contiguous row range of the training data. With data on
disk, open it as a memmap and slice the range: the slice is still a memmap,
read in blocks, so no rank loads more than its buffers. ``batch_size`` is the
global batch (each rank contributes its share of the rows), the correlation
term is computed on the latents gathered from every rank, and DDP averages
the gradients: the model optimises the same objective as one process on all
the rows, and every rank ends with the same weights. Rank 0 saves it.
"""

import os
import pickle
import sys

import numpy as np
import torch.distributed as dist
from sklearn.datasets import load_digits

from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

# Digits halves: left and right 4 columns of each 8x8 image. The first 1500
# rows train, the rest are held out.
images = load_digits().data.reshape(-1, 8, 8)
left, right = images[:, :, :4].reshape(-1, 32), images[:, :, 4:].reshape(-1, 32)
n_train = 1500

# This rank's row range. With files, e.g.
#     X = np.load("left.npy", mmap_mode="r")[start:stop]
rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
start, stop = np.linspace(0, n_train, world_size + 1).astype(int)[rank : rank + 2]

model = CorrNet(n_components=10, max_iter=30, random_state=0, distributed=True)
model.fit(left[start:stop], right[start:stop])

# Training is over: leave the group together, before any rank-specific work.
dist.barrier()
dist.destroy_process_group()

# Every rank holds the same model; one copy is enough.
if rank == 0:
    with open(sys.argv[1], "wb") as f:
        pickle.dump(model, f)
    train = model.transform(left[:n_train], right[:n_train])
    test = model.transform(left[n_train:], right[n_train:])
    print(
        f"{world_size} processes, rows {start}:{stop} on rank 0; held-out total "
        f"correlation {total_correlation(*train, *test):.2f}"
    )
