"""Drive the main job through the HTTP API and print the accuracy on held-out photos.

The train/ photos are uploaded (the service holds out its own validation split from them);
the val/ photos are never uploaded and serve as the test set for both models.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from pathlib import Path

import httpx

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8765", help="Base URL of a running service.")
    parser.add_argument("--data", type=Path, required=True, help="Folder with train/<class>/ and val/<class>/ photos.")
    parser.add_argument("--architecture", default="flyp-tiny", help="open_clip architecture; default flyp-tiny (random weights, runs offline).")
    parser.add_argument("--pretrained", default=None, help="open_clip pretrained tag, e.g. openai (needs a download).")
    parser.add_argument("--epochs", type=int, default=15, help="Training epochs; default 15.")
    parser.add_argument("--batch-size", type=int, default=32, help="Images per batch; default 32.")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="1e-3 suits random weights; use 1e-5 for pretrained ones.")
    parser.add_argument("--templates", default="simple", help="Template set: simple or openai_imagenet.")
    return parser.parse_args()


def wait_until_ready(client: httpx.Client, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    sys.exit(f"The service at {client.base_url} did not become ready within {timeout:.0f} s; read its log.")


def zip_split(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        sys.exit(f"{response.request.method} {response.request.url.path} failed with {response.status_code}: {response.text}")
    return response.json()


def run_job(client: httpx.Client, dataset_id: str, args: argparse.Namespace, method: str) -> dict:
    model = {"architecture": args.architecture}
    if args.pretrained:
        model["pretrained"] = args.pretrained
    hyperparameters = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "templates": args.templates,
        "seed": 0,
    }
    job = check(client.post("/v1/jobs", json={"dataset_id": dataset_id, "method": method, "model": model, "hyperparameters": hyperparameters}))
    print(f"Job {job['id']} ({method}) queued with {job['hyperparameters']}")
    last_line = ""
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
        job = check(client.get(f"/v1/jobs/{job['id']}"))
        progress = job.get("progress") or {}
        line = f"  {job['status']}: epoch {progress.get('epoch', '-')}/{progress.get('epochs', '-')}, step {progress.get('step', '-')}/{progress.get('total_steps', '-')}"
        if line != last_line:
            print(line, flush=True)
            last_line = line
    if job["status"] != "succeeded":
        sys.exit(f"Job {job['id']} ended {job['status']}: {job.get('error')}")
    return job


def held_out_accuracy(client: httpx.Client, model_id: str, test_dir: Path) -> float:
    samples = [(path, path.parent.name) for path in sorted(test_dir.rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
    correct = 0
    for start in range(0, len(samples), 16):
        batch = samples[start : start + 16]
        files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path, _ in batch]
        result = check(client.post(f"/v1/models/{model_id}/classify", files=files, data={"top_k": "1"}))
        correct += sum(item["predictions"][0]["label"] == label for item, (_, label) in zip(result["data"], batch))
    return correct / len(samples)


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    with httpx.Client(base_url=args.url, timeout=300) as client:
        wait_until_ready(client)
        dataset = check(client.post("/v1/datasets", files={"file": ("train.zip", zip_split(args.data / "train"), "application/zip")}, data={"name": "demo"}))
        print(f"Dataset {dataset['id']}: {[(entry['name'], entry['counts']) for entry in dataset['classes']]}")

        zeroshot_job = run_job(client, dataset["id"], args, "zeroshot")
        zeroshot = held_out_accuracy(client, zeroshot_job["model_id"], args.data / "val")
        job = run_job(client, dataset["id"], args, "flyp")
        metrics = job["metrics"]
        finetuned = held_out_accuracy(client, job["model_id"], args.data / "val")

    held_out = args.data / "val"
    print()
    print(f"Architecture: {args.architecture} ({args.pretrained or 'random weights'})")
    print(f"Validation split held out by the service: zero-shot {metrics['zeroshot']['val']['accuracy']:.3f}, FLYP {metrics['selected']['val']['accuracy']:.3f}")
    print(f"Held-out photos in {held_out}, classified through the API:")
    print(f"  zero-shot accuracy  {zeroshot:.3f}")
    print(f"  finetuned accuracy  {finetuned:.3f}")
    print(f"Wall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
