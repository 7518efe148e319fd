"""The demo's text: templates of mentions in five languages, noise, exclusions, emoji, handles.

All text the demo posts comes from here, so no data file is read; the generator fills the
``{b}`` (brand), ``{x}`` (exclusion) and ``{i}`` (menu item) slots.
"""

from __future__ import annotations

from typing import Final

EN: Final[dict[str, tuple[str, ...]]] = {
    "pos": (
        "Just had the best oat latte at {b} 😍",
        "{b} never misses. The cold brew is so good today",
        "Honestly {b} has the friendliest baristas in town",
        "LOVE the new seasonal menu at {b}",
        "{b} flat white is amazing, not even kidding",
        "shoutout to {b} for fixing my order so fast, great team 🙌",
        "The {b} app finally works great, ordered in ten seconds",
        "not gonna lie, {b} is not bad at all",
        "never had a bad cup at {b}",
        "{b} croissants are SO good, perfect morning",
        "{b} remembered my name and my order. Love this place",
    ),
    "neg": (
        "Waited 25 minutes for a lukewarm flat white at {b}. Terrible.",
        "{b} got my order wrong AGAIN 😡",
        "Not impressed with {b} at all, the espresso tastes burnt",
        "{b} app crashed at checkout, so annoying",
        "Why is {b} so expensive now? Worst value in town",
        "rude staff at {b} this morning. never going back",
        "{b} customer service is useless, what a waste of time",
        "{b} is not good anymore. So disappointed.",
        "{b} charged me twice and nobody answers. Really angry",
        "the new {b} cups leak everywhere, hate them",
    ),
    "neu": (
        "Is {b} open on Sunday mornings?",
        "Meeting at the {b} on 5th street at 10",
        "{b} is opening a new store downtown next month",
        "Anyone know if {b} has oat milk?",
        "Picked up a bag of beans from {b} for the office",
        "{b} moved the pickup counter to the back of the store",
        "Which {b} drink has the most caffeine?",
    ),
    "mixed": (
        "{b} coffee is great but the line was ridiculous",
        "Love the vibe at {b}, hate the prices",
        "meh. {b} latte was fine, nothing special",
        "The pastries at {b} are amazing, the coffee not so much",
        "{b} is not bad, but not great either lol",
        "Great beans from {b}, terrible packaging",
    ),
}
# Two brands in one text: {b} is the brand the sentiment is about, {o} a competitor.
COMPARE: Final[dict[str, tuple[str, ...]]] = {
    "pos": (
        "switched from {o} to {b} and not looking back ☕",
        "{b} > {o}. fight me",
        "{o} was closed so I tried {b}. Honestly better??",
        "{b} vs {o} cold brew taste test: {b} wins, {o} was watery",
    ),
    "neg": (
        "went back to {o} after a week of {b}. {b} just isn't as good",
        "{b} is so overpriced and worse than {o} lol",
    ),
    "neu": (
        "{b} or {o} for a quick espresso near the station?",
        "{b} and {o} both opened on Main St, coffee war incoming lol",
    ),
}
FOREIGN: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "es": {
        "pos": ("¡Me encanta el café de {b}! 😍", "El mejor flat white de la ciudad está en {b}"),
        "neg": ("El servicio en {b} es terrible, esperé 30 minutos 😡", "El café de {b}, frío"),
        "neu": ("¿{b} abre los domingos?", "Nueva tienda de {b} en el centro"),
    },
    "fr": {
        "pos": (
            "Le meilleur cappuccino de la ville chez {b} ☕",
            "J'adore les viennoiseries de {b}",
        ),
        "neg": ("Très déçu par {b}, le café était froid", "Service catastrophique chez {b}"),
        "neu": ("Quelqu'un sait si {b} a du lait d'avoine ?", "{b} ouvre un café près de la gare"),
    },
    "de": {
        "pos": ("{b} hat den besten Kaffee der Stadt 🔥", "Der Cold Brew von {b} ist super lecker"),
        "neg": ("Schlechter Service bei {b}, nie wieder", "Bei {b} 20 Minuten gewartet, genervt"),
        "neu": ("Hat {b} am Sonntag geöffnet?", "{b} eröffnet eine neue Filiale am Bahnhof"),
    },
    "pt": {
        "pos": ("Adoro o café da {b}! ☕😍", "Melhor cappuccino da cidade é na {b}"),
        "neg": ("Péssimo atendimento na {b} hoje 😡", "O café da {b} estava frio, que decepção"),
        "neu": ("Alguém sabe se a {b} tem leite vegetal?", "A {b} abriu uma loja nova no centro"),
    },
}
# No tracked brand; some are near misses a sloppy matcher would count (aurora, ember, lumen).
NOISE: Final = (
    "Monday mood: coffee first, questions later ☕",
    "anyone else think oat milk is overrated lol",
    "Best espresso machine under $500? asking for a friend",
    "The sunrise over the lake this morning 😍",
    "Traffic on the bridge is unreal today 😡",
    "Poking the last ember of the campfire, best night of the summer 🔥",
    "Aurora forecast looks good for tonight, fingers crossed",
    "My new desk lamp is 800 lumen and I can finally see my keyboard",
    "meh, rainy day again",
    "Finally finished my latte art course!!!",
    "Hot take: coffee tastes better in a ceramic mug",
)
# Texts that name a brand and one of its exclusion terms, so the veto has something to do.
EXCLUDED: Final[dict[str, tuple[str, ...]]] = {
    "aurora borealis": (
        "Chasing the aurora borealis tonight with a thermos of {b} 🌌",
        "aurora borealis over the fjord, {b} in hand. unreal",
    ),
    "job opening": (
        "{b} job opening: barista, full time, apply via the link",
        "Job opening at {b} downtown, morning shifts",
    ),
    "fake giveaway": (
        "Fake giveaway alert: that {b} account DMing you is not real",
        "PSA: {b} fake giveaway going around, don't click",
    ),
}
EXCLUDED_ANY: Final = ("Heads up about the {x} thing going around, {b} fans", "{b} and the {x}?")
OWNED: Final = (
    "New on the menu: {item}. Come try it at {b} ☕",
    "Happy Friday! Cold brew is 2-for-1 all weekend at {b} 🔥",
    "Meet our roasters: 60 seconds on how we pick our beans {b}",
    "Your {item}, now 20% faster to order in the {b} app",
    "Thank you for a wonderful first year downtown ❤️ {b}",
)
# What makes two people's posts from one template their own: an opener, where and with whom,
# a city. Filled per mention, so the demo's filtered share looks like real traffic's, not a
# copy-paste campaign's (README: Signals).
OPENERS: Final = (
    "ok so", "honestly", "update:", "well", "so", "hmm", "ngl", "today:", "quick one:",
    "true story:", "random thought:", "morning report:", "can confirm:", "not sure why but",
    "reminder to self:", "for the record,", "small win:", "status:", "fun fact:", "welp",
)  # fmt: skip
ASIDES: Final = (
    "on my way to {p}", "before my shift at {p}", "after {p}", "with {n} and {m}",
    "near {p}", "while waiting for the {t}", "between two meetings", "on a rainy {d}",
    "first thing on {d}", "with {n} from work", "{n} says hi", "after the {t} was late again",
    "before {p} with {n}", "{d} ritual", "as {n} predicted", "still thinking about it on {d}",
)  # fmt: skip
# A closing sentence built from slots ("{n} and I {verb} {what} {when}"): tens of thousands of
# combinations, so two posts of one template rarely share more than the template.
VERBS: Final = (
    "tried", "skipped", "argued about", "finally found", "planned", "booked", "missed",
    "cancelled", "loved", "reviewed", "fixed", "painted", "cooked", "watched", "lost",
    "ordered", "returned", "built", "rehearsed", "celebrated", "measured", "sketched",
)  # fmt: skip
THINGS: Final = (
    "the quiz night", "a new bike", "the garden fence", "grandma's recipe", "the sequel",
    "a board game", "the espresso grinder", "our holiday", "the budget", "a sourdough loaf",
    "the wifi router", "a vinyl record", "the karaoke", "a tiny cactus", "the group project",
    "a puzzle", "the concert tickets", "a road trip", "the kitchen shelf", "the final exam",
    "a podcast episode", "the marathon training", "a birthday cake", "the office plant",
)  # fmt: skip
WHEN: Final = (
    "last night", "this morning", "yesterday", "all weekend", "before lunch", "at midnight",
    "again", "for hours", "twice", "after dinner", "on the way home", "at dawn", "so early",
    "in the rain", "without coffee", "by accident", "on purpose", "too late",
)  # fmt: skip
# The same closing sentence in the other demo languages: "{n} and I" is the first slot.
FOREIGN_CLOSERS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]] = {
    "es": (
        ("{n} y yo",),
        ("probamos", "cancelamos", "planeamos", "perdimos", "celebramos", "arreglamos",
         "cocinamos", "vimos"),
        ("la bici nueva", "el examen final", "el concierto", "la receta de la abuela",
         "el viaje", "la fiesta", "el partido", "un puzzle", "la mudanza"),
    ),
    "fr": (
        ("{n} et moi",),
        ("avons testé", "avons raté", "avons fêté", "avons réparé", "avons cuisiné",
         "avons vu", "avons perdu", "avons préparé"),
        ("le vélo neuf", "l'examen", "le concert", "la recette de mamie", "le voyage",
         "la fête", "le match", "un puzzle", "le déménagement"),
    ),
    "de": (
        ("{n} und ich haben",),
        ("getestet", "verpasst", "gefeiert", "repariert", "gekocht", "gesehen", "verloren",
         "geplant"),
        ("das neue Rad", "die Prüfung", "das Konzert", "Omas Rezept", "die Reise", "die Party",
         "das Spiel", "ein Puzzle", "den Umzug"),
    ),
    "pt": (
        ("{n} e eu",),
        ("testamos", "perdemos", "comemoramos", "consertamos", "cozinhamos", "vimos",
         "planejamos", "cancelamos"),
        ("a bicicleta nova", "a prova", "o show", "a receita da avó", "a viagem", "a festa",
         "o jogo", "um quebra-cabeça", "a mudança"),
    ),
}  # fmt: skip
PLACES: Final = (
    "the office", "the library", "campus", "the station", "the airport", "the dentist",
    "class", "yoga", "the hospital", "the market", "the park", "the museum", "practice",
    "the gym", "my interview", "the school run", "band rehearsal", "the lab",
)  # fmt: skip
NAMES: Final = (
    "Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kai",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tomas", "Uma", "Vik",
    "Wen", "Yara", "Zoe", "Leo", "Mia", "Ravi", "Sofia", "Theo",
)  # fmt: skip
DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TRANSPORT: Final = ("bus", "train", "tram", "ferry", "shuttle", "metro")
CITIES: Final = (
    "#london", "#madrid", "#lisboa", "#paris", "#berlin", "#dublin", "#austin", "#seattle",
    "#toronto", "#porto", "#lyon", "#munich", "#boston", "#chicago", "#denver", "#sevilla",
)  # fmt: skip
ITEMS: Final = ("maple oat latte", "honey lavender cold brew", "cardamom bun", "spiced mocha")
EMOJI: Final = {
    "pos": ("😍", "🔥", "☕", "🙌", "❤️", "✨"),
    "neg": ("😡", "🤬", "👎", "😤", "🙄"),
    "neu": ("☕", "🤔", "📍"),
    "mixed": ("🤷", "😅", "☕"),
}
ALL_EMOJI: Final = frozenset(e for group in EMOJI.values() for e in group) | {"🌌"}
HASHTAGS: Final = ("#coffee", "#coffeetime", "#latte", "#coldbrew", "#espresso", "#mondaymood")
HANDLE_A: Final = (
    "sleepy", "caffeinated", "urban", "daily", "rainy", "latte", "espresso", "morning",
    "midnight", "bean", "crema", "decaf", "double", "iced", "oat", "mocha", "cortado", "roast",
)  # fmt: skip
HANDLE_B: Final = (
    "owl", "fox", "coder", "runner", "mama", "papa", "nomad", "reader", "critic", "dev", "chef",
    "student", "nurse", "designer", "cyclist", "gamer", "teacher", "writer", "snob",
)  # fmt: skip
