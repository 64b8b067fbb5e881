"""Sample training job: a small MLP (PyTorch) on data_url/train.csv.

Reads the CSV (feature columns, last column the 0/1 label), trains for
--epochs with Adam at --lr, logs the loss and accuracy per epoch as metrics
the job's visualization can chart, and saves train_url/model.pt.
"""
import argparse
import csv
import os

import torch
from atelier_metrics import SummaryWriter

p = argparse.ArgumentParser()
p.add_argument("--data_url", required=True)
p.add_argument("--train_url", required=True)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--lr", type=float, default=0.01)
args, _ = p.parse_known_args()

with open(os.path.join(args.data_url, "train.csv")) as f:
    rows = list(csv.reader(f))[1:]
x = torch.tensor([[float(v) for v in r[:-1]] for r in rows])
y = torch.tensor([float(r[-1]) for r in rows]).unsqueeze(1)

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=args.lr)
loss_fn = torch.nn.BCEWithLogitsLoss()
writer = SummaryWriter(args.train_url)
for epoch in range(args.epochs):
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    acc = ((model(x) > 0).float() == y).float().mean().item()
    writer.add_scalar("loss", loss.item(), epoch)
    writer.add_scalar("accuracy", acc, epoch)
    print(f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.4f} accuracy {acc:.3f}", flush=True)
writer.close()
torch.save(model.state_dict(), os.path.join(args.train_url, "model.pt"))
print("saved", os.path.join(args.train_url, "model.pt"))
