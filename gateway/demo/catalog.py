"""The demo tenants, their categories, static pages and product lines, as plain data.

Read by ``gateway.demo.corpus``; no I/O and no randomness here, so changing a tenant
means editing one table below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    locale: str
    status: str
    # (language, topic, how many blog posts); the order decides category assignment.
    blog_plan: tuple[tuple[str, str, int], ...]
    # category name -> (type, topics it collects)
    categories: tuple[tuple[str, str, tuple[str, ...]], ...]
    # (title, language, page_type, parent title or "", topic)
    pages: tuple[tuple[str, str, str, str, str], ...]
    product_lines: tuple[str, ...] = ()
    hero_images: int = 4
    product_images: int = 0
    extra: dict[str, str] = field(default_factory=dict)


TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        slug="kabar-jakarta",
        name="Kabar Jakarta",
        locale="id",
        status="active",
        blog_plan=(
            ("id", "transportasi", 12),
            ("id", "teknologi", 12),
            ("id", "kesehatan", 12),
            ("id", "kuliner", 10),
            ("id", "wisata", 10),
            ("id", "keuangan", 10),
            ("id", "olahraga", 10),
            ("id", "pendidikan", 8),
        ),
        categories=(
            ("Metropolitan", "blog", ("transportasi",)),
            ("Teknologi", "blog", ("teknologi",)),
            ("Kesehatan", "blog", ("kesehatan",)),
            ("Gaya Hidup", "blog", ("kuliner", "wisata")),
            ("Ekonomi", "blog", ("keuangan",)),
            ("Olahraga", "blog", ("olahraga",)),
            ("Pendidikan", "blog", ("pendidikan",)),
            ("Halaman", "page", ()),
        ),
        pages=(
            ("Beranda", "id", "landing", "", "teknologi"),
            ("Tentang Kami", "id", "regular", "", "pendidikan"),
            ("Susunan Redaksi", "id", "regular", "Tentang Kami", "pendidikan"),
            ("Pedoman Media Siber", "id", "regular", "Tentang Kami", "teknologi"),
            ("Kebijakan Privasi", "id", "regular", "", "teknologi"),
            ("Hubungi Kami", "id", "contact", "", "transportasi"),
            ("Indeks Berita Kesehatan", "id", "regular", "", "kesehatan"),
            ("Agenda Wisata Akhir Pekan", "id", "regular", "", "wisata"),
        ),
        hero_images=8,
    ),
    TenantSpec(
        slug="kopi-nusantara",
        name="Kopi & Batik Nusantara",
        locale="id",
        status="active",
        blog_plan=(
            ("id", "kopi", 12),
            ("id", "batik", 10),
            ("id", "belanja", 6),
            ("id", "kuliner", 4),
        ),
        categories=(
            ("Cerita Kopi", "blog", ("kopi", "kuliner")),
            ("Cerita Batik", "blog", ("batik",)),
            ("Info Belanja", "blog", ("belanja",)),
            ("Biji Kopi", "product", ("kopi",)),
            ("Kain & Busana Batik", "product", ("batik",)),
            ("Alat Seduh", "product", ("alat",)),
            ("Bantuan", "page", ()),
        ),
        pages=(
            ("Beranda", "id", "landing", "", "kopi"),
            ("Tentang Kami", "id", "regular", "", "kopi"),
            ("Cara Pembayaran", "id", "regular", "Bantuan Pelanggan", "belanja"),
            ("Informasi Pengiriman", "id", "regular", "Bantuan Pelanggan", "belanja"),
            ("Bantuan Pelanggan", "id", "regular", "", "belanja"),
            ("Perajin Mitra Kami", "id", "regular", "Tentang Kami", "batik"),
            ("Hubungi Kami", "id", "contact", "", "belanja"),
        ),
        product_lines=("kopi", "batik", "alat"),
        hero_images=6,
        product_images=10,
    ),
    TenantSpec(
        slug="devnotes",
        name="DevNotes: Web Performance Journal",
        locale="en",
        status="active",
        blog_plan=(
            ("en", "cdn", 8),
            ("en", "caching", 8),
            ("en", "performance", 8),
            ("en", "postgres", 8),
            ("en", "search", 8),
            ("en", "images", 5),
            ("en", "security", 5),
        ),
        categories=(
            ("Performance", "blog", ("cdn", "caching", "performance")),
            ("Databases", "blog", ("postgres",)),
            ("Search", "blog", ("search",)),
            ("Media", "blog", ("images",)),
            ("Security", "blog", ("security",)),
            ("Site", "page", ()),
        ),
        pages=(
            ("About", "en", "regular", "", "performance"),
            ("Newsletter", "en", "regular", "About", "caching"),
            ("Privacy Policy", "en", "regular", "", "security"),
            ("Talks and Workshops", "en", "regular", "About", "cdn"),
            ("Start Here: Website Speed", "en", "landing", "", "performance"),
        ),
        hero_images=5,
    ),
    TenantSpec(
        slug="sekolah-harapan",
        name="SMA Harapan Bangsa",
        locale="id",
        status="active",
        blog_plan=(("id", "pendidikan", 14), ("en", "education", 10), ("id", "olahraga", 4)),
        categories=(
            ("Berita Sekolah", "blog", ("pendidikan", "olahraga")),
            ("School News", "blog", ("education",)),
            ("Profil", "page", ()),
        ),
        pages=(
            ("Beranda", "id", "landing", "", "pendidikan"),
            ("Profil Sekolah", "id", "regular", "", "pendidikan"),
            ("Visi dan Misi", "id", "regular", "Profil Sekolah", "pendidikan"),
            ("Penerimaan Peserta Didik Baru", "id", "regular", "", "pendidikan"),
            ("Fasilitas Sekolah", "id", "regular", "Profil Sekolah", "pendidikan"),
            ("Home", "en", "landing", "", "education"),
            ("School Profile", "en", "regular", "", "education"),
            ("Vision and Mission", "en", "regular", "School Profile", "education"),
            ("Admissions", "en", "regular", "", "education"),
            ("Kontak / Contact", "id", "contact", "", "pendidikan"),
        ),
        hero_images=5,
    ),
    TenantSpec(
        slug="kedai-lama",
        name="Kedai Lama (ditangguhkan)",
        locale="id",
        status="suspended",
        blog_plan=(("id", "kopi", 5), ("id", "kesehatan", 4), ("id", "belanja", 3)),
        categories=(
            ("Artikel", "blog", ("kopi", "kesehatan", "belanja")),
            ("Produk", "product", ("kopi",)),
        ),
        pages=(
            ("Tentang Kami", "id", "regular", "", "kopi"),
            ("Cara Pembayaran", "id", "regular", "", "belanja"),
        ),
        product_lines=("kopi",),
        hero_images=3,
    ),
)

# (name, region, tasting notes, base price per 250 g in rupiah)
COFFEES: tuple[tuple[str, str, str, int], ...] = (
    ("Arabika Gayo", "Aceh Tengah", "jeruk, gula aren, dan teh hitam", 95_000),
    ("Toraja Sapan", "Sulawesi Selatan", "rempah, cokelat hitam, dan kayu manis", 110_000),
    ("Kintamani", "Bali", "jeruk keprok dan madu", 98_000),
    ("Flores Bajawa", "Nusa Tenggara Timur", "kacang panggang dan karamel", 92_000),
    ("Java Preanger", "Jawa Barat", "bunga melati dan apel hijau", 105_000),
    ("Robusta Lampung", "Lampung", "cokelat pekat dan kacang", 65_000),
    ("Papua Wamena", "Papua Pegunungan", "buah beri dan gula merah", 125_000),
    ("Mandailing", "Sumatera Utara", "tembakau manis dan rempah", 100_000),
    ("Ijen Raung", "Jawa Timur", "anggur merah dan cokelat susu", 97_000),
    ("Kerinci", "Jambi", "markisa dan gula tebu", 99_000),
)
PROCESSES = ("Natural", "Washed", "Honey")
WEIGHTS = (("250 g", 1.0), ("500 g", 1.9), ("1 kg", 3.6))

# (motif, origin, meaning)
MOTIFS: tuple[tuple[str, str, str], ...] = (
    ("Parang", "Yogyakarta", "semangat yang tidak pernah padam"),
    ("Kawung", "Solo", "kesucian dan kebijaksanaan"),
    ("Megamendung", "Cirebon", "kesabaran dan ketenangan"),
    ("Truntum", "Surakarta", "cinta yang tumbuh kembali"),
    ("Sidomukti", "Solo", "harapan akan kemakmuran"),
    ("Lasem Tiga Negeri", "Rembang", "perpaduan budaya Jawa dan Tionghoa"),
    ("Jlamprang", "Pekalongan", "keteraturan dan keseimbangan"),
    ("Sekar Jagad", "Yogyakarta", "keragaman yang indah"),
)
# (item, technique, price)
BATIK_ITEMS: tuple[tuple[str, str, int], ...] = (
    ("Kain Batik Tulis", "tulis", 1_250_000),
    ("Kain Batik Cap", "cap", 285_000),
    ("Kemeja Pria Batik Cap", "cap", 349_000),
    ("Dress Batik Cap", "cap", 399_000),
    ("Selendang Batik Tulis Sutra", "tulis", 875_000),
)

# (name, description, price)
BREW_TOOLS: tuple[tuple[str, str, int], ...] = (
    (
        "Dripper V60 Keramik",
        "Dripper keramik untuk seduhan manual dengan aliran air yang stabil.",
        185_000,
    ),
    (
        "Gilingan Kopi Manual Burr Baja",
        "Gilingan tangan dengan burr baja tahan karat dan 30 tingkat kehalusan.",
        425_000,
    ),
    ("Kertas Filter V60 isi 100", "Kertas filter tanpa pemutih untuk dripper ukuran 02.", 55_000),
    ("Teko Leher Angsa 600 ml", "Teko leher angsa untuk menuang air dengan presisi.", 310_000),
    (
        "Timbangan Digital dengan Timer",
        "Timbangan 0,1 gram dengan pengatur waktu untuk menyeduh kopi.",
        195_000,
    ),
)
