"""Training across machines: Model.fit's epochs as a custom loop over tf.distribute.

    train.py --distribute multiworker   # on every machine, each with its own TF_CONFIG

Keras 3's `Model.fit` fails under `MultiWorkerMirroredStrategy` (it hands a value of each replica to a
step that expects one tensor), but the strategy itself works: `fit_across_workers` runs each step as
`strategy.run` of a gradient step, the loss averaged over the global batch with
`tf.nn.compute_average_loss`, the gradients summed over the replicas by the optimizer. It drives the
same Keras callbacks with the same `logs` as `fit` (loss, accuracy, val_loss, val_accuracy), so the
learning-rate schedule, early stopping, history, checkpoints and best model are the ones a run on one
machine has (training/runs.py, training/lr_schedule.py).

Each worker loads only its share of every global batch (`ClipDataset(shard=...)`) and splits it over its
own devices; the validation split is scored the same way, its sums added over the workers, so its loss
and accuracy are computed once for the whole split. A lost worker stops the others with a message naming
it, within seconds: at their next exchange if its port is closed (about 2 s after a kill, measured on
localhost), or once its heartbeats stop if it hangs or its machine drops off the network (about 10 s).
The same command started again on every worker resumes from the last completed epoch.
"""

import collections
import concurrent.futures
import itertools
import json
import os
import re
import socket

import keras
import tensorflow as tf

from training.distribute import across_machines

# What a collective raises when a peer is gone: unreachable, timed out, restarted, or aborted by the health check
PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.FailedPreconditionError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
    tf.errors.InternalError,
)
SUM = tf.distribute.ReduceOp.SUM


class WorkerLost(RuntimeError):
    """Another worker of a multi-machine run stopped answering; the message says which and how to resume."""


def fit_across_workers(model, strategy, train_data, validation_data, epochs, initial_epoch, callbacks, verbose=2):
    """Trains `model` (compiled, built in `strategy`'s scope) from `initial_epoch` to `epochs` as `model.fit`
    would, through a loop that runs under any strategy; raises WorkerLost when a peer is gone."""
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=len(train_data), model=model
    )
    train_step, test_step = make_steps(model, strategy)
    model.stop_training, logs, epoch = False, {}, initial_epoch
    train_data.on_epoch_end()  # as fit does: its data iterator's reset moves a PyDataset on by one epoch first
    try:
        callbacks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            totals = Totals()
            for index, (values, size) in enumerate(global_batches(train_data, strategy)):
                callbacks.on_train_batch_begin(index)
                totals.add(size, *train_step(values, tf.constant(size, tf.int64)))
                callbacks.on_train_batch_end(index, totals.logs())
            logs = totals.logs()
            callbacks.on_test_begin()
            scores = Totals()
            for index, (values, size) in enumerate(global_batches(validation_data, strategy)):
                callbacks.on_test_batch_begin(index)
                loss_sum, correct = test_step(values)
                scores.add(size, loss_sum / size, correct)
                callbacks.on_test_batch_end(index, scores.logs())
            callbacks.on_test_end(scores.logs())
            logs.update({f"val_{key}": value for key, value in scores.logs().items()})
            callbacks.on_epoch_end(epoch, logs)
            train_data.on_epoch_end()
            if model.stop_training:
                break
        callbacks.on_train_end(logs)
    except PEER_ERRORS as error:
        if not across_machines(strategy):
            raise
        raise WorkerLost(lost_worker_message(error, epoch, epochs)) from error
    return model.history


def make_steps(model, strategy):
    """The training and validation steps of one global batch: each replica's part, reduced over all replicas.
    The loss is the compiled one (sparse categorical cross-entropy), averaged over the global batch, so
    that the gradients the optimizer sums over the replicas are those of the whole batch on one device."""
    optimizer, loss_of, variables = model.optimizer, keras.losses.get(model.loss), model.trainable_variables

    def correct_of(labels, probabilities):
        predicted = tf.argmax(probabilities, axis=-1, output_type=labels.dtype)
        return tf.reduce_sum(tf.cast(predicted == labels, tf.float32))

    def train_replica(clips, labels, global_size):
        with tf.GradientTape() as tape:
            probabilities = model(clips, training=True)
            loss = tf.nn.compute_average_loss(loss_of(labels, probabilities), global_batch_size=global_size)
            if model.losses:  # weight penalties, counted once over the replicas
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)  # mixed float16: scaled up, and down again in apply_gradients
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return loss, correct_of(labels, probabilities)

    def test_replica(clips, labels):
        probabilities = model(clips, training=False)
        return tf.reduce_sum(loss_of(labels, probabilities)), correct_of(labels, probabilities)

    @tf.function(reduce_retracing=True)
    def train_step(values, global_size):
        loss, correct = strategy.run(train_replica, args=(*values, global_size))
        return strategy.reduce(SUM, loss, axis=None), strategy.reduce(SUM, correct, axis=None)

    @tf.function(reduce_retracing=True)
    def test_step(values):
        loss_sum, correct = strategy.run(test_replica, args=values)
        return strategy.reduce(SUM, loss_sum, axis=None), strategy.reduce(SUM, correct, axis=None)

    return train_step, test_step


class Totals:
    """An epoch's running loss and accuracy over the clips so far, as fit reports them: each batch's mean
    loss weighted by its clips."""

    def __init__(self):
        self.loss = self.correct = self.clips = 0.0

    def add(self, size, loss, correct):
        self.loss += float(loss) * size
        self.correct += float(correct)
        self.clips += size

    def logs(self):
        return {"loss": self.loss / max(1, self.clips), "accuracy": self.correct / max(1, self.clips)}


def global_batches(data, strategy):
    """(values of the replicas, global batch size) of each batch of an epoch: this worker's share of the
    global batch, split over its devices, loaded `data.workers` batches ahead while the model trains."""
    workers = data.shard[1]
    with concurrent.futures.ThreadPoolExecutor(max(1, data.workers)) as pool:
        loads = (pool.submit(data.__getitem__, index) for index in range(len(data)))  # submitted as taken
        pending = collections.deque(itertools.islice(loads, data.workers + 1))
        while pending:
            clips, labels = pending.popleft().result()
            pending.extend(itertools.islice(loads, 1))
            yield replica_values(strategy, clips, labels, workers), len(labels) * workers


def replica_values(strategy, clips, labels, workers):
    """A worker's share of a batch, split evenly over its devices: a value of each local replica."""
    local = strategy.num_replicas_in_sync // workers
    share = len(labels) // local

    def part(context):
        first = context.replica_id_in_sync_group % local * share
        return tf.constant(clips[first : first + share]), tf.constant(labels[first : first + share])

    return strategy.experimental_distribute_values_from_function(part)


def lost_worker_message(error, epoch, epochs):
    """Which worker stopped answering, and how to resume. The lost one is named in TensorFlow's error, or
    is the chief when heartbeats to its coordination service time out, or is the one whose port is closed."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    cluster, task = config.get("cluster", {}), config.get("task", {})
    addresses = {(job, index): address for job in cluster for index, address in enumerate(cluster[job])}
    own, chief = (task.get("type"), task.get("index", 0)), ("chief", 0) if "chief" in cluster else ("worker", 0)
    text = str(error)
    named = {(job, int(index)) for job, index in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text)}
    lost = sorted(peer for peer in named if peer in addresses and peer != own)
    if not lost and "CoordinationService" in text and own != chief:
        lost = [chief]
    lost = lost or sorted(peer for peer in addresses if peer != own and not answers(addresses[peer]))
    who = ", ".join(f"{job} {index} ({addresses[job, index]})" for job, index in lost) or "another worker"
    skipped = ("Graph execution error", "Detected at node", "File ", "[[", "The error could be", "Additional GRPC")
    reasons = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(skipped)]
    reason = " ".join(reasons[:2]).removeprefix("Collective ops is aborted by: ")[:160] or type(error).__name__
    return (
        f"Lost {who} during epoch {epoch + 1} of {epochs} ({reason}). Start the same command again on "
        f"every worker: it resumes from the last completed epoch (epoch {epoch} here)."
    )


def answers(address, timeout=2.0):
    """Whether something listens at host:port."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False
