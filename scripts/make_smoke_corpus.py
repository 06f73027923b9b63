"""Generate the text corpus of the `tiny_lm` smoke task, deterministically, from a small grammar.

The corpus is a collection of short children's stories drawn from a probabilistic grammar: a
fixed cast of characters, places and objects, a handful of story shapes, and consistent
pronouns and names inside each story. That gives a tiny language model real structure to learn
(spelling, word order, agreement, names that recur) in a minute or two on a CPU.

Two files are written, each from its own seed, so the held-out stories are new draws from the
same grammar rather than copies of training stories:

- ``agent_tasks/src/agent_tasks/tasks/tiny_lm/starter/train.txt``: what the agent trains on;
- ``agent_eval/src/agent_eval/resources/bundled/tiny_lm_heldout/heldout.txt``: hidden; the evaluator
  scores bits per byte on it.

Run ``python scripts/make_smoke_corpus.py`` to (re)write both; the output is identical on every
run and every platform. ``--anchors MODEL_DIR`` prints the task's score anchors: the bits per
byte of a byte-unigram model of the train text on the held-out text (the baseline) and, when a
model folder is given, that model's bits per byte on the held-out text (strided sliding window).
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PATH = ROOT / "agent_tasks/src/agent_tasks/tasks/tiny_lm/starter/train.txt"
HELDOUT_PATH = ROOT / "agent_eval/src/agent_eval/resources/bundled/tiny_lm_heldout/heldout.txt"
TRAIN_SEED = 20240611
HELDOUT_SEED = 77031
TRAIN_BYTES = 200_000
HELDOUT_BYTES = 30_000

# The grammar's vocabulary, kept compact on purpose.
# fmt: off
CAST = [  # (name, pronoun set)
    ("Mia", "she"), ("Tom", "he"), ("Lily", "she"), ("Ben", "he"), ("Sara", "she"),
    ("Max", "he"), ("Anna", "she"), ("Leo", "he"), ("Zoe", "she"), ("Sam", "he"),
    ("Ella", "she"), ("Jack", "he"), ("Nora", "she"), ("Finn", "he"), ("Ruby", "she"),
    ("Owen", "he"), ("Ivy", "she"), ("Kai", "he"), ("Lucy", "she"), ("Noah", "he"),
]
PRONOUNS = {"she": ("she", "her", "her"), "he": ("he", "him", "his")}
ANIMALS = ["cat", "dog", "rabbit", "bird", "fox", "bear", "duck", "frog", "mouse", "owl",
           "turtle", "pony", "squirrel", "lamb", "puppy", "kitten"]
SIZE_ADJ = ["little", "small", "big", "tiny", "young", "old"]
MOOD_ADJ = ["happy", "curious", "shy", "brave", "sleepy", "kind", "funny", "clever", "gentle"]
PLACES = ["a small house near the woods", "a big farm", "a quiet town", "a busy city",
          "a cozy cottage", "a green valley", "a house by the sea", "a village on a hill"]
OUTSIDE = ["the park", "the garden", "the forest", "the beach", "the meadow", "the river",
           "the hill", "the pond", "the market", "the old bridge"]
OBJECTS = ["ball", "kite", "box", "book", "hat", "boat", "key", "shell", "flower", "stone",
           "cup", "drum", "sock", "map", "bell", "feather"]
COLOURS = ["red", "blue", "green", "yellow", "shiny", "striped", "soft", "round", "golden"]
FOODS = ["an apple", "a cookie", "some bread", "a cake", "some soup", "a pear", "some cheese",
         "a sandwich", "some berries", "a pie"]
FEELINGS_GOOD = ["happy", "proud", "glad", "excited", "calm"]
FEELINGS_BAD = ["sad", "worried", "scared", "upset", "lonely"]
WEATHER = ["the sun was shining", "it was raining", "the wind was blowing",
           "it was very cold", "the sky was blue", "snow was falling"]
PLAY = ["played tag", "built a tower", "sang a song", "drew a picture", "told jokes",
        "looked for bugs", "jumped in puddles", "counted the clouds", "made a sandcastle"]
SPOTS = ["under a tree", "behind a rock", "in the tall grass", "near the water",
         "under the bench", "inside an old log"]
NOISES = ["a loud noise", "a strange sound", "a soft tapping", "a big splash",
          "a rustle in the bushes"]
TIMES = ["One day", "One morning", "One afternoon", "One evening", "The next day"]
# fmt: on


class Story:
    """Draws one story; keeps the cast of the story consistent."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        hero, friend = rng.sample(CAST, 2)
        self.name, gender = hero
        self.friend, fgender = friend
        self.he, self.him, self.his = PRONOUNS[gender]
        self.fhe, self.fhim, self.fhis = PRONOUNS[fgender]
        self.animal = rng.choice(ANIMALS)
        self.obj = rng.choice(OBJECTS)
        self.colour = rng.choice(COLOURS)
        self.place = rng.choice(OUTSIDE)

    def pick(self, options: list[str]) -> str:
        """One option, uniformly."""
        return self.rng.choice(options)

    def opening(self) -> str:
        """The first sentences: who, where, what they are like."""
        r = self.rng
        size, mood = self.pick(SIZE_ADJ), self.pick(MOOD_ADJ)
        article = "an" if size[0] in "aeiou" else "a"
        if r.random() < 0.5:
            first = f"Once upon a time, there was {article} {size} {self.animal} named "
            first += f"{self.name}."
        else:
            first = f"There once was {article} {size} {self.animal} called {self.name}."
        second = f"{self.he.capitalize()} lived in {self.pick(PLACES)}."
        third = f"{self.name} was very {mood} and loved to play in {self.place}."
        return " ".join([first, second, third])

    def lost_object(self) -> str:
        """The hero loses something and a friend helps find it."""
        bad, good = self.pick(FEELINGS_BAD), self.pick(FEELINGS_GOOD)
        spot = self.pick(SPOTS)
        return " ".join(
            [
                f"{self.pick(TIMES)}, {self.name} could not find {self.his} "
                f"{self.colour} {self.obj}.",
                f"{self.he.capitalize()} looked everywhere, but it was gone.",
                f"{self.name} felt {bad}.",
                f"Then {self.his} friend {self.friend} came by and asked, "
                f'"Why are you {bad}, {self.name}?"',
                f'"I lost my {self.obj}," said {self.name}.',
                f'"Let us look together," said {self.friend}.',
                f"They looked {spot}, and there it was!",
                f"{self.name} hugged {self.friend} and felt {good} again.",
            ]
        )

    def sharing(self) -> str:
        """The hero has food, a hungry friend appears, they share."""
        food = self.pick(FOODS)
        bare = food.split(" ", 1)[1]
        return " ".join(
            [
                f"{self.pick(TIMES)}, {self.name} went to {self.place} with {food}.",
                f"On the way, {self.he} met {self.friend}, who looked very hungry.",
                f'"Would you like some of my {bare}?" asked {self.name}.',
                f'"Yes, please!" said {self.friend} with a big smile.',
                f"So they sat down and shared the {bare}.",
                "It tasted so good that they both laughed.",
                f"{self.name} learned that sharing makes everything better.",
            ]
        )

    def weather_day(self) -> str:
        """The weather changes the plan; they find something else to do."""
        weather = self.pick(WEATHER)
        play1, play2 = self.rng.sample(PLAY, 2)
        return " ".join(
            [
                f"{self.pick(TIMES)}, {weather}.",
                f"{self.name} wanted to go to {self.place} with {self.friend}.",
                f"At first they {play1}, and then they {play2}.",
                f'When it was time to go home, {self.friend} said, "This was the best day ever!"',
                f"{self.name} nodded and smiled.",
            ]
        )

    def scared_then_brave(self) -> str:
        """A noise scares the hero; it turns out to be harmless."""
        noise = self.pick(NOISES)
        cause = self.pick(ANIMALS)
        article = "an" if cause[0] in "aeiou" else "a"
        return " ".join(
            [
                f"{self.pick(TIMES)}, {self.name} heard {noise} in {self.place}.",
                f"{self.he.capitalize()} was scared and wanted to run away.",
                f"But {self.he} took a deep breath and went to look.",
                f"It was only {article} {cause} who wanted to play!",
                f"{self.name} laughed, and the {cause} became {self.his} new friend.",
            ]
        )

    def gift(self) -> str:
        """The hero makes or finds a gift for the friend."""
        return " ".join(
            [
                f"{self.pick(TIMES)}, {self.name} found a {self.colour} {self.obj} "
                f"in {self.place}.",
                f'"{self.friend} will love this," {self.he} thought.',
                f"{self.he.capitalize()} ran all the way to {self.friend}'s house.",
                f"When {self.friend} saw the {self.obj}, {self.fhe} jumped with joy.",
                f'"Thank you, {self.name}! You are a good friend," said {self.friend}.',
            ]
        )

    def ending(self) -> str:
        """A closing line."""
        return self.pick(
            [
                f"From that day on, {self.name} and {self.friend} were best friends.",
                f"That night, {self.name} went to bed with a smile.",
                "And they all lived happily ever after.",
                f"{self.name} never forgot that day.",
                "The end.",
            ]
        )

    def text(self) -> str:
        """The whole story as one paragraph."""
        middles = [
            self.lost_object,
            self.sharing,
            self.weather_day,
            self.scared_then_brave,
            self.gift,
        ]
        parts = [self.opening()]
        for make in self.rng.sample(middles, self.rng.choice([1, 1, 2])):
            parts.append(make())
        parts.append(self.ending())
        return " ".join(parts)


def corpus(seed: int, size_bytes: int) -> str:
    """Stories separated by blank lines until the text reaches ``size_bytes``."""
    rng = random.Random(seed)
    stories: list[str] = []
    total = 0
    while total < size_bytes:
        story = Story(rng).text()
        stories.append(story)
        total += len(story.encode("utf-8")) + 2
    return "\n\n".join(stories) + "\n"


def unigram_bits_per_byte(train: bytes, heldout: bytes) -> float:
    """Bits per byte of an add-one-smoothed byte-unigram model of ``train`` on ``heldout``."""
    counts = Counter(train)
    total = len(train) + 256
    bits = -sum(math.log2((counts[b] + 1) / total) for b in heldout)
    return bits / len(heldout)


def model_bits_per_byte(model_dir: Path, text: str, stride: int | None = None) -> float:
    """Bits per byte of a causal LM on ``text``: strided sliding window, each token scored once."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    window = int(model.config.max_position_embeddings)
    step = stride or window // 2
    nll, prev_end, length = 0.0, 0, ids.size(1)
    with torch.no_grad():
        for begin in range(0, length, step):
            end = min(begin + window, length)
            chunk = ids[:, begin:end]
            logits = model(chunk).logits[0, :-1].float()
            targets = chunk[0, 1:]
            losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            new = end - max(prev_end, begin + 1)  # tokens not yet scored in this window
            nll += float(losses[-new:].sum()) if new > 0 else 0.0
            prev_end = end
            if end == length:
                break
    return nll / math.log(2) / len(text.encode("utf-8"))


def main() -> None:
    """Write both files, or print the score anchors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", action="store_true", help="print the score anchors")
    parser.add_argument("--model", type=Path, help="with --anchors: a trained model folder")
    args = parser.parse_args()
    if args.anchors:
        train = TRAIN_PATH.read_bytes()
        heldout = HELDOUT_PATH.read_bytes()
        print(
            f"baseline (byte unigram of train on held-out): "
            f"{unigram_bits_per_byte(train, heldout):.4f} bits/byte"
        )
        if args.model is not None:
            bpb = model_bits_per_byte(args.model, heldout.decode("utf-8"))
            print(f"model {args.model}: {bpb:.4f} bits/byte on held-out")
        return
    for path, seed, size in (
        (TRAIN_PATH, TRAIN_SEED, TRAIN_BYTES),
        (HELDOUT_PATH, HELDOUT_SEED, HELDOUT_BYTES),
    ):
        text = corpus(seed, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {path.relative_to(ROOT)}: {len(text.encode('utf-8')):,} bytes")


if __name__ == "__main__":
    main()
