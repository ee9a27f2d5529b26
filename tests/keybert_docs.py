"""Documents for the KeyBERT parity tests: 22 texts of different lengths and topics, written for sentkit."""

from __future__ import annotations

DOCS = [
    # One-liners
    "Solar panels convert sunlight into electricity.",
    "The cat slept on the warm windowsill all afternoon.",
    "Quantum computers use qubits that can be in superposition.",
    "Bake the bread at two hundred degrees for forty minutes.",
    # Short paragraphs
    "Supervised learning is the machine learning task of learning a function that maps an input to an "
    "output based on example input-output pairs. It infers a function from labeled training data "
    "consisting of a set of training examples.",
    "The central bank raised interest rates by half a percentage point on Wednesday, its third increase "
    "this year, as policymakers try to cool inflation without pushing the economy into recession.",
    "Coral reefs cover less than one percent of the ocean floor but support about a quarter of all "
    "marine species. Warming seas cause bleaching, when corals expel the algae living in their tissues.",
    "The striker scored twice in the second half, and the home team won the championship final "
    "three goals to one in front of a sold-out stadium.",
    "To reset your password, open the account settings page, choose security, and follow the link sent "
    "to your registered email address. The link expires after twenty-four hours.",
    "Photosynthesis takes place in the chloroplasts of plant cells, where chlorophyll absorbs light "
    "energy and uses it to turn carbon dioxide and water into glucose and oxygen.",
    "The museum's new exhibition brings together paintings, sketches and letters by the artist, many "
    "of them shown to the public for the first time since her death in 1962.",
    "Vaccines train the immune system to recognise a pathogen by exposing it to a harmless piece of "
    "the virus or bacterium, so that the body can respond quickly to a real infection.",
    # Medium paragraphs
    "Electric vehicles are becoming cheaper as battery prices fall. Lithium-ion cells now cost a "
    "fraction of what they did a decade ago, and manufacturers are building new factories to meet "
    "demand. Charging networks are expanding along highways, although drivers in rural areas still "
    "worry about range. Governments offer tax credits to buyers, and several countries plan to ban "
    "the sale of new petrol and diesel cars within the next fifteen years.",
    "The Python programming language emphasises readable code. Its standard library covers file "
    "handling, networking, regular expressions and unit testing, and the package index hosts hundreds "
    "of thousands of third-party libraries. Developers use Python for web services, data analysis, "
    "scientific computing and automation scripts, and it is widely taught as a first language.",
    "Sleep plays a vital role in memory consolidation. During deep sleep the brain replays the day's "
    "experiences, strengthening the connections between neurons that encode new information. Adults "
    "who sleep fewer than six hours a night perform worse on attention and memory tests, and chronic "
    "sleep deprivation is linked to heart disease, obesity and depression.",
    "The expedition reached the summit shortly after dawn. Climbers had spent six weeks acclimatising "
    "at base camp, waiting for a window of calm weather. Strong winds and deep snow forced two members "
    "to turn back, but the remaining team fixed ropes across the icefall and set up the final camp at "
    "nearly eight thousand metres before the push to the top.",
    "Open-source software is developed in public, and anyone can read, modify and share the code. "
    "Projects are maintained by volunteers and companies alike, who review contributions, fix bugs and "
    "publish releases. Licences such as MIT, Apache and GPL set the terms under which the software may "
    "be reused, and foundations help large projects manage trademarks and funding.",
    # Long documents
    "Urban gardening has grown rapidly in many cities over the last decade. Residents convert rooftops, "
    "balconies and vacant lots into small farms where they grow vegetables, herbs and fruit. Community "
    "gardens bring neighbours together and give children a chance to learn where food comes from. "
    "Researchers have found that green spaces lower summer temperatures in dense neighbourhoods, absorb "
    "rainwater that would otherwise flood the streets, and provide habitats for bees and other "
    "pollinators.",
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
    "movable metal type, oil-based ink and a wooden screw press to produce books far faster than scribes "
    "could copy them by hand. Within fifty years printing shops had spread to more than two hundred "
    "European cities and millions of volumes were in circulation. Cheaper books helped spread literacy, "
    "scientific ideas and religious reform.",
    "Machine translation systems used to rely on hand-written rules and bilingual dictionaries. Statistical "
    "methods replaced them in the 1990s, learning phrase tables from large parallel corpora such as "
    "parliamentary proceedings. Neural networks changed the field again: an encoder reads the source "
    "sentence into vectors, and a decoder generates the translation word by word while an attention "
    "mechanism looks back at the relevant source words. " * 4,  # over 256 tokens: the model truncates it
    # Odd ones: digits and symbols, a repeated word, very short
    "Version 2.0 of the API adds OAuth tokens, rate limits of 100 requests per minute, and JSON responses.",
    "Rain, rain, rain: the forecast promises more rain for the whole weekend.",
]

# Texts for the bad-input tests (not part of the 20+ parity set).
EMPTY_DOC = ""
STOP_WORDS_ONLY_DOC = "it is what it is, and there was nothing more to it than that."
