"""The four assignments: their tasks in the order to do them, points, and written questions.

A task's name is its marker in the source (``# BEGIN SOLUTION assignment=1 task=mul_backward``)
and, prefixed with the assignment, its pytest marker: ``python -m pytest -m a1_mul_backward``.
The order is the order of dependence: a task's own tests, run in the hand-out, need only the
tasks above it (the grader does not: it gives every other task the instructor's code). A task
may span several regions of one function (the training step: before and after a check).
"""

from dataclasses import dataclass, field

from .markers import AssignmentError, task_marker


@dataclass(frozen=True)
class Task:
    name: str
    points: int
    title: str


@dataclass(frozen=True)
class Assignment:
    number: int
    title: str
    summary: str
    tasks: tuple
    questions: tuple = field(default_factory=tuple)  # written questions, graded by the instructor

    def task(self, name):
        for task in self.tasks:
            if task.name == name:
                return task
        raise AssignmentError(f"assignment {self.number} has no task {name!r}; its tasks: {self.task_names()}")

    def task_names(self):
        return [t.name for t in self.tasks]

    def markers(self):
        return [task_marker(self.number, t.name) for t in self.tasks]

    @property
    def points(self):
        return sum(t.points for t in self.tasks)


ASSIGNMENTS = {
    1: Assignment(
        1,
        "Autograd ops and gradient checking",
        "The topological order of back-propagation, the central-difference gradient, and the backward "
        "passes of multiplication, division, exp, log, sum and matrix product.",
        (
            Task("topological_order", 3, "autograd.topological_order: every node after the nodes it uses"),
            Task("numerical_gradient", 2, "testing.gradcheck.numerical_gradient: central differences"),
            Task("sum_backward", 2, "Sum.backward over any axes, with and without keepdims"),
            Task("mul_backward", 2, "Mul.backward, with broadcasting"),
            Task("div_backward", 2, "Div.backward, with broadcasting"),
            Task("exp_backward", 1, "Exp.backward"),
            Task("log_backward", 1, "Log.backward"),
            Task("matmul_backward", 3, "MatMul.backward for vectors, matrices and batches"),
        ),
        (
            "Why does back-propagation need a topological order? Give a graph on which visiting the "
            "nodes in the order they were created, reversed, would still be right, and say why that is "
            "not enough in general.",
            "The gradient check uses central differences (f(x+ε) − f(x−ε)) / 2ε. Why not the forward "
            "difference (f(x+ε) − f(x)) / ε, and why does it run in float64?",
        ),
    ),
    2: Assignment(
        2,
        "Activations, losses and optimisers",
        "ReLU, sigmoid and tanh with their derivatives, the stable softmax cross-entropy and its "
        "gradient, MSE, SGD with momentum and Adam with bias correction.",
        (
            Task("relu_forward", 1, "ReLU.forward: y = max(x, 0)"),
            Task("relu_backward", 1, "kernels.reference.relu_backward: the derivative PyTorch uses"),
            Task("sigmoid_backward", 1, "Sigmoid.backward from the saved output"),
            Task("tanh_backward", 1, "Tanh.backward from the saved output"),
            Task("mse_backward", 2, "MSELoss.backward"),
            Task("log_softmax", 2, "the stable log-softmax inside CrossEntropy.forward"),
            Task("cross_entropy_gradient", 2, "prediction minus truth: the gradient CrossEntropy saves"),
            Task("sgd_momentum", 3, "SGD's momentum buffer (and Nesterov)"),
            Task("adam", 3, "Adam's step with bias correction"),
        ),
        (
            "Subtracting each row's maximum before exp does not change softmax. Show why, and say what "
            "goes wrong in float32 without it for logits of size 100.",
            "Without bias correction, what are Adam's first steps like when β₂ = 0.999? Explain with "
            "the value of v after one step.",
        ),
    ),
    3: Assignment(
        3,
        "Convolution and pooling, forward and backward",
        "The reference loops of conv2d (forward, input gradient, weight gradient) and of max-pooling "
        "(forward with the winner's position, backward).",
        (
            Task("conv_forward", 3, "kernels.reference.conv2d_forward"),
            Task("conv_backward_input", 3, "kernels.reference.conv2d_backward_input"),
            Task("conv_backward_weight", 3, "kernels.reference.conv2d_backward_weight"),
            Task("maxpool_forward", 2, "kernels.reference.maxpool2d_forward: the maximum and where it was"),
            Task("maxpool_backward", 2, "kernels.reference.maxpool2d_backward"),
        ),
        (
            "How many multiply-adds does the forward pass of a 3×3 convolution with 1 input and 32 output "
            "channels cost on one 28×28 image (padding 1)? How does im2col turn it into one matrix product?",
            "Max-pooling's backward pass sends each window's gradient to one position. What happens on a "
            "tie, and why does it matter little in practice?",
        ),
    ),
    4: Assignment(
        4,
        "Training and evaluating the medical CNN",
        "Input standardisation, class weights, the confusion matrix, ROC-AUC, the training step inside "
        "Trainer, and a training loop of your own in the assignment's notebook.",
        (
            Task("normalizer_fit", 2, "train.Normalizer.fit: per-channel mean and std"),
            Task("class_weights", 2, "train.balanced_class_weights"),
            Task("confusion_matrix", 2, "metrics: the confusion matrix"),
            Task("binary_auc", 2, "metrics: the area under the ROC curve"),
            Task("train_step", 4, "Trainer.train_epoch: forward, loss, zero the gradients, back-propagate, step"),
            Task("notebook_training_loop", 3, "notebooks/assignment4.ipynb: train_one_epoch"),
        ),
        (
            "The test set of PneumoniaMNIST has more pneumonia images than normal ones. Which of accuracy, "
            "sensitivity, specificity and ROC-AUC would you report to a radiologist, and why?",
            "Why must the normaliser be fitted on the training images only, and not on all of them?",
        ),
    ),
}


def assignment(n):
    """The Assignment numbered n, or an AssignmentError naming the known ones."""
    try:
        return ASSIGNMENTS[int(n)]
    except (KeyError, ValueError, TypeError):
        raise AssignmentError(f"unknown assignment {n}; known: {sorted(ASSIGNMENTS)}") from None
