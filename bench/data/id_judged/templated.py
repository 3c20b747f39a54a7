"""Templated documents of the Indonesian judged set: product pages, event news, village
tourism profiles and job posts, as an AWCMS tenant would publish them.

Each record is built from hand-chosen attributes and one of several sentence banks, so
pages of one kind share a shape (as real CMS pages do) but not their wording. Keys are
stable: queries in ``source/queries.txt`` judge them by key.
"""

from __future__ import annotations

import random

# slug, name, kind, made of / what it is, city, sizes [(label, price)], selling points
PRODUCTS = [
    ("keripik-tempe", "Keripik Tempe Sagu", "camilan", "tempe kedelai lokal diiris tipis dan tepung sagu", "Malang",
     [("250 g", 18000), ("500 g", 34000)], ["renyah tahan lama", "tanpa pengawet", "cocok untuk oleh-oleh"]),
    ("keripik-tempe-pedas", "Keripik Tempe Pedas Daun Jeruk", "camilan", "tempe tipis, cabai bubuk, dan daun jeruk", "Malang",
     [("200 g", 17000)], ["level pedas bisa dipilih", "aroma daun jeruk segar"]),
    ("keripik-singkong", "Keripik Singkong Balado", "camilan", "singkong pilihan dengan bumbu balado cabai merah", "Padang",
     [("250 g", 15000), ("1 kg", 55000)], ["pedas manis khas Minang", "digoreng dengan minyak baru"]),
    ("keripik-pisang", "Keripik Pisang Cokelat", "camilan", "pisang kepok dilapisi cokelat", "Lampung",
     [("200 g", 20000)], ["manis legit", "favorit anak-anak"]),
    ("rempeyek", "Rempeyek Kacang Tanah", "camilan", "tepung beras, kacang tanah, dan daun jeruk", "Klaten",
     [("300 g", 22000)], ["tipis dan gurih", "dibuat setiap hari"]),
    ("kerupuk-udang", "Kerupuk Udang Sidoarjo", "camilan", "udang segar dan tepung tapioka", "Sidoarjo",
     [("500 g mentah", 45000)], ["kandungan udang tinggi", "mengembang sempurna saat digoreng"]),
    ("basreng", "Basreng Pedas Kering", "camilan", "bakso ikan tenggiri yang diiris dan digoreng kering", "Bandung",
     [("150 g", 12000), ("500 g", 38000)], ["pedas nagih", "kemasan zipper"]),
    ("makaroni", "Makaroni Bantet Pedas", "camilan", "makaroni goreng dengan bubuk cabai", "Cimahi",
     [("100 g", 8000)], ["harga pelajar", "renyah"]),
    ("kopi-gayo", "Kopi Arabika Gayo", "minuman", "biji arabika dari dataran tinggi Gayo, sangrai medium", "Takengon",
     [("200 g biji", 85000), ("200 g bubuk", 85000)], ["rasa buah dan cokelat", "petik merah"]),
    ("kopi-toraja", "Kopi Toraja Sapan", "minuman", "biji arabika Toraja, sangrai medium-dark", "Tana Toraja",
     [("250 g", 95000)], ["body tebal", "keasaman rendah"]),
    ("kopi-robusta", "Kopi Robusta Temanggung", "minuman", "robusta petik merah dari lereng Sindoro", "Temanggung",
     [("500 g bubuk", 60000)], ["pahit mantap", "cocok untuk kopi tubruk"]),
    ("teh-melati", "Teh Melati Tubruk", "minuman", "daun teh hijau yang diwangikan bunga melati", "Tegal",
     [("100 g", 12000)], ["wangi khas", "teh seduh tradisional"]),
    ("wedang-uwuh", "Wedang Uwuh Siap Seduh", "minuman", "kayu secang, jahe, cengkih, kayu manis, dan gula batu", "Yogyakarta",
     [("isi 10 sachet", 25000)], ["menghangatkan badan", "warna merah alami dari secang"]),
    ("jamu-kunyit", "Jamu Kunyit Asam Botol", "minuman", "kunyit segar, asam jawa, dan gula aren", "Solo",
     [("250 ml", 10000), ("1 liter", 35000)], ["tanpa pengawet", "simpan di lemari pendingin"]),
    ("sirup-markisa", "Sirup Markisa Asli", "minuman", "sari buah markisa ungu", "Medan",
     [("620 ml", 45000)], ["asam segar", "oleh-oleh khas Sumatra Utara"]),
    ("tas-rotan", "Tas Rotan Bulat", "kerajinan", "rotan alami dianyam tangan dengan tali kulit", "Lombok",
     [("diameter 20 cm", 150000)], ["dianyam pengrajin desa", "ringan dan kokoh"]),
    ("batik-tulis", "Kain Batik Tulis Parang", "kerajinan", "kain katun primisima dengan pewarna alam", "Pekalongan",
     [("2 x 1,15 m", 650000)], ["dikerjakan tiga minggu", "motif klasik"]),
    ("batik-cap", "Kemeja Batik Cap Mega Mendung", "fashion", "katun dengan motif awan khas Cirebon", "Cirebon",
     [("M", 175000), ("XL", 185000)], ["lengan pendek", "bahan adem"]),
    ("tenun-ikat", "Kain Tenun Ikat Sumba", "kerajinan", "benang kapas dipintal tangan, pewarna akar mengkudu dan nila", "Sumba Timur",
     [("selendang", 750000)], ["motif kuda dan kuda laut", "karya penenun perempuan"]),
    ("songket", "Kain Songket Palembang", "kerajinan", "sutra dengan benang emas", "Palembang",
     [("set kain dan selendang", 2500000)], ["untuk pernikahan adat", "kilau benang emas"]),
    ("anyaman-pandan", "Tikar Anyaman Pandan", "kerajinan", "daun pandan duri yang dijemur dan diwarnai", "Tasikmalaya",
     [("150 x 200 cm", 120000)], ["bisa dilipat", "aroma pandan alami"]),
    ("gerabah", "Vas Gerabah Kasongan", "kerajinan", "tanah liat dibakar dan dicat tangan", "Bantul",
     [("tinggi 40 cm", 90000)], ["hiasan ruang tamu", "dikemas kayu agar aman"]),
    ("kaos-sablon", "Kaos Sablon Aksara Jawa", "fashion", "katun combed 30s dengan sablon plastisol", "Yogyakarta",
     [("M", 95000), ("L", 95000)], ["desain lokal", "tidak luntur"]),
    ("hijab-voal", "Hijab Segi Empat Voal", "fashion", "kain voal motif bunga, tepi jahit laser", "Bandung",
     [("115 x 115 cm", 65000)], ["tegak di dahi", "tidak licin"]),
    ("sepatu-kulit", "Sepatu Pantofel Kulit Sapi", "fashion", "kulit sapi asli dengan sol karet", "Bandung",
     [("ukuran 39-44", 350000)], ["buatan pengrajin Cibaduyut", "garansi jahitan"]),
    ("sambal-bawang", "Sambal Bawang Botol", "bumbu", "cabai rawit, bawang putih, dan minyak kelapa", "Surabaya",
     [("150 g", 25000)], ["tahan dua bulan", "pedas level lima"]),
    ("rendang-kemasan", "Rendang Daging Kemasan Kaleng", "bumbu", "daging sapi dimasak santan dan rempah hingga kering", "Bukittinggi",
     [("200 g", 75000)], ["tahan setahun tanpa pendingin", "tinggal dipanaskan"]),
    ("bumbu-pecel", "Bumbu Pecel Madiun", "bumbu", "kacang tanah sangrai, cabai, gula merah, dan daun jeruk", "Madiun",
     [("250 g", 20000), ("500 g", 38000)], ["tinggal diseduh air panas", "tahan tiga bulan"]),
    ("abon-sapi", "Abon Sapi Manis", "bumbu", "daging sapi suwir dimasak bumbu ketumbar", "Boyolali",
     [("100 g", 32000)], ["tanpa MSG", "lauk praktis untuk bekal"]),
    ("ikan-asin", "Ikan Asin Jambal Roti", "bumbu", "ikan manyung asin yang dijemur", "Cirebon",
     [("250 g", 55000)], ["tidak terlalu asin", "gurih saat digoreng"]),
    ("nastar", "Kue Nastar Nanas Wisman", "kue", "mentega wisman dan selai nanas madu", "Jakarta",
     [("toples 500 g", 135000)], ["lumer di mulut", "pesanan Lebaran"]),
    ("kastengel", "Kastengel Keju Edam", "kue", "keju edam dan keju cheddar", "Jakarta",
     [("toples 500 g", 145000)], ["gurih asin", "pesanan Lebaran"]),
    ("bolu-pandan", "Bolu Pandan Lembut", "kue", "sari daun pandan asli tanpa pewarna", "Bogor",
     [("loyang 22 cm", 60000)], ["lembut dan harum", "dikirim hari yang sama"]),
    ("lapis-legit", "Lapis Legit Premium", "kue", "kuning telur, mentega, dan rempah spekuk", "Medan",
     [("20 x 20 cm", 350000)], ["18 lapisan", "dipanggang lapis demi lapis"]),
    ("bakpia", "Bakpia Kacang Hijau", "kue", "kulit tipis dengan isian kacang hijau", "Yogyakarta",
     [("isi 20", 40000)], ["oleh-oleh khas Jogja", "tahan lima hari"]),
    ("madu-hutan", "Madu Hutan Sumbawa", "minuman", "madu lebah liar dari hutan Sumbawa", "Sumbawa",
     [("500 ml", 120000)], ["mentah tanpa pemanasan", "diuji laboratorium"]),
    ("minyak-kelapa", "Minyak Kelapa Murni (VCO)", "bumbu", "kelapa segar diolah tanpa pemanasan", "Minahasa",
     [("250 ml", 45000)], ["untuk memasak dan perawatan kulit", "jernih dan harum"]),
    ("sabun-herbal", "Sabun Herbal Sereh", "perawatan", "minyak kelapa, minyak zaitun, dan minyak atsiri sereh", "Bogor",
     [("100 g", 25000)], ["proses dingin", "tanpa deterjen"]),
    ("lilin-aromaterapi", "Lilin Aromaterapi Kayu Manis", "perawatan", "lilin kedelai dan minyak atsiri kayu manis", "Denpasar",
     [("toples kaca 150 g", 85000)], ["menyala 30 jam", "sumbu kayu"]),
]

PRODUCT_OPENINGS = [
    "{name} dibuat dari {made} oleh pelaku usaha rumahan di {city}.",
    "Produk unggulan dari {city}: {name}, berbahan {made}.",
    "Kami menghadirkan {name} yang diolah dari {made}, langsung dari {city}.",
    "{name} kami diproduksi di {city} dengan bahan {made}.",
]
PRODUCT_MIDDLES = [
    "Keunggulannya: {points}.",
    "Pelanggan menyukainya karena {points}.",
    "Yang membuatnya istimewa adalah {points}.",
]
PRODUCT_CLOSINGS = [
    "Ukuran {size}, harga Rp{price}. Pengiriman ke seluruh Indonesia setiap hari kerja.",
    "Tersedia kemasan {size} seharga Rp{price}. Pesanan sebelum pukul 14.00 dikirim di hari yang sama.",
    "Varian {size} dijual Rp{price}. Bisa bayar dengan QRIS atau transfer bank.",
    "Kemasan {size}: Rp{price}. Gratis ongkos kirim untuk pembelian di atas dua ratus ribu rupiah.",
]

# slug, title template, body sentences; filled per city
EVENTS = [
    ("festival-kuliner", "Festival Kuliner Nusantara Digelar di {city}",
     ["Lebih dari seratus tenant makanan khas daerah meramaikan festival kuliner di {venue} {city} selama tiga hari mulai {date}.",
      "Pengunjung dapat mencicipi hidangan dari Aceh sampai Papua sambil menikmati musik akustik.",
      "Panitia menyediakan area parkir dan pembayaran non-tunai di semua stan."]),
    ("pelatihan-digital", "Pelatihan Pemasaran Digital Gratis bagi UMKM {city}",
     ["Dinas Koperasi dan UMKM {city} membuka pelatihan pemasaran digital gratis pada {date} di {venue}.",
      "Materi meliputi foto produk, berjualan di marketplace, dan iklan media sosial.",
      "Kuota terbatas untuk lima puluh peserta yang sudah memiliki NIB."]),
    ("pemadaman-listrik", "Pemadaman Listrik Terjadwal di Sebagian Wilayah {city}",
     ["Perusahaan listrik mengumumkan pemadaman terjadwal pada {date} pukul 09.00 sampai 15.00 di sekitar {venue}, {city}.",
      "Pemadaman diperlukan untuk pemeliharaan jaringan dan penggantian trafo.",
      "Warga diimbau mengisi daya perangkat elektronik sebelum pemadaman dimulai."]),
    ("lomba-lari", "Lomba Lari 10K Meriahkan Hari Jadi {city}",
     ["Ribuan peserta diperkirakan mengikuti lomba lari 10 kilometer dalam rangka hari jadi {city} pada {date}.",
      "Garis start dan finis berada di {venue}.",
      "Pendaftaran dibuka secara daring dan setiap peserta mendapat kaus serta medali."]),
    ("vaksinasi", "Layanan Imunisasi Anak Gratis di {city}",
     ["Dinas Kesehatan {city} menggelar imunisasi kejar untuk anak yang belum lengkap imunisasinya pada {date} di {venue}.",
      "Orang tua diminta membawa buku KIA dan kartu keluarga.",
      "Layanan gratis dan tidak perlu mendaftar lebih dulu."]),
    ("pasar-murah", "Pasar Murah Sembako Jelang Ramadan di {city}",
     ["Pemerintah daerah {city} menggelar pasar murah beras, minyak goreng, gula, dan telur pada {date} di {venue}.",
      "Harga dijual di bawah harga pasar untuk membantu daya beli masyarakat.",
      "Setiap warga dapat membeli paling banyak lima kilogram beras dengan menunjukkan KTP."]),
    ("pameran-buku", "Pameran Buku dan Festival Literasi di {city}",
     ["Pameran buku dengan diskon hingga 70 persen berlangsung di {venue} {city} mulai {date}.",
      "Acara juga diisi lokakarya menulis, dongeng anak, dan bincang bersama penulis.",
      "Masuk gratis untuk pelajar yang menunjukkan kartu pelajar."]),
    ("donor-darah", "Aksi Donor Darah Serentak di {city}",
     ["Palang Merah {city} mengajak warga mendonorkan darah pada {date} di {venue}.",
      "Stok darah menipis setelah libur panjang, terutama golongan O.",
      "Calon pendonor diminta cukup tidur dan sarapan sebelum datang."]),
    ("car-free-day", "Hari Bebas Kendaraan Kembali Dibuka di {city}",
     ["Hari bebas kendaraan bermotor kembali digelar setiap Minggu mulai {date} di sepanjang {venue}, {city}.",
      "Warga dapat berolahraga, bersepeda, dan mengikuti senam bersama dari pukul 06.00 hingga 10.00.",
      "Kendaraan umum dialihkan ke jalan di sekitarnya."]),
]
CITIES = [
    ("Surabaya", "Taman Bungkul"), ("Medan", "Lapangan Merdeka"), ("Semarang", "Simpang Lima"),
    ("Makassar", "Pantai Losari"), ("Bandung", "Gedung Sate"), ("Palembang", "Benteng Kuto Besak"),
    ("Denpasar", "Lapangan Renon"), ("Yogyakarta", "Alun-alun Utara"), ("Balikpapan", "Lapangan Merdeka Balikpapan"),
    ("Pontianak", "Taman Alun Kapuas"), ("Manado", "Kawasan Megamas"), ("Padang", "Pantai Padang"),
]
DATES = ["Sabtu, 4 Mei", "Minggu, 12 Mei", "Sabtu, 8 Juni", "Jumat, 21 Juni", "Minggu, 7 Juli",
         "Sabtu, 3 Agustus", "Minggu, 15 September", "Sabtu, 19 Oktober"]

# slug, village, regency, what it is known for, activities
VILLAGES = [
    ("penglipuran", "Penglipuran", "Bangli, Bali", "tata rumah adat yang seragam dan jalan desa yang bersih tanpa kendaraan",
     "berjalan menyusuri hutan bambu dan mencicipi loloh cemcem"),
    ("kasongan", "Kasongan", "Bantul, Yogyakarta", "sentra gerabah dan keramik tanah liat",
     "belajar membentuk gerabah dengan tangan di bengkel pengrajin"),
    ("nglanggeran", "Nglanggeran", "Gunungkidul, Yogyakarta", "gunung api purba dan embung di tengah kebun buah",
     "mendaki batuan andesit dan memetik durian serta kakao"),
    ("wae-rebo", "Wae Rebo", "Manggarai, Flores", "tujuh rumah adat kerucut Mbaru Niang di lembah pegunungan",
     "menginap bersama warga dan menyaksikan pengolahan kopi"),
    ("sade", "Sade", "Lombok Tengah", "perkampungan suku Sasak yang lantai rumahnya dari campuran tanah dan kotoran kerbau",
     "melihat perempuan Sasak menenun kain songket"),
    ("pentingsari", "Pentingsari", "Sleman, Yogyakarta", "kebun salak dan budaya Jawa di lereng Merapi",
     "belajar menari, membatik, dan bertani bersama keluarga tuan rumah"),
    ("tete-batu", "Tetebatu", "Lombok Timur", "sawah hijau di kaki Gunung Rinjani dan air terjun",
     "trekking ke hutan monyet hitam dan kebun kopi"),
    ("pujon-kidul", "Pujon Kidul", "Malang, Jawa Timur", "kafe di tengah sawah dan peternakan sapi perah",
     "memerah susu sapi dan menikmati sayuran segar"),
    ("osing-kemiren", "Kemiren", "Banyuwangi, Jawa Timur", "adat suku Osing dan kopi tradisional",
     "menyaksikan tari Gandrung dan ritual Tumpeng Sewu"),
    ("trusmi", "Trusmi", "Cirebon, Jawa Barat", "sentra batik tulis motif mega mendung",
     "membatik kain sendiri dan berbelanja di galeri"),
    ("lerep", "Lerep", "Semarang, Jawa Tengah", "embung, kebun durian, dan pertanian organik",
     "mengikuti kelas memasak makanan desa"),
    ("bilebante", "Bilebante", "Lombok Tengah", "pasar kuliner di pinggir sawah dan lingkungannya yang hijau",
     "bersepeda keliling sawah dan belajar membuat minyak kelapa"),
    ("sawinggrai", "Sawinggrai", "Raja Ampat, Papua Barat Daya", "pengamatan burung cenderawasih di hutan desa",
     "menyaksikan tarian cenderawasih merah saat fajar"),
    ("ngadas", "Ngadas", "Malang, Jawa Timur", "letaknya sebagai desa tertinggi di Jawa, di lereng Bromo, dan adat Tengger",
     "melihat ladang kentang berundak dan upacara Karo"),
    ("tembi", "Tembi", "Bantul, Yogyakarta", "rumah budaya dan kerajinan kayu",
     "belajar gamelan dan mengikuti kelas membuat wayang"),
    ("kete-kesu", "Ke'te' Kesu'", "Toraja Utara, Sulawesi Selatan", "rumah adat tongkonan dan makam batu tebing",
     "melihat ukiran kayu khas Toraja dan kuburan gantung"),
    ("bena", "Bena", "Ngada, Flores", "susunan batu megalitikum di pelataran kampung",
     "melihat tenun ikat Ngada dan rumah adat beratap ilalang"),
    ("sembalun", "Sembalun", "Lombok Timur", "lembah sayuran dan stroberi di kaki Rinjani",
     "memetik stroberi dan mendaki Bukit Pergasingan"),
    ("candirejo", "Candirejo", "Magelang, Jawa Tengah", "suasana pedesaan di dekat Candi Borobudur dan kerajinan bambunya",
     "naik andong keliling desa dan membuat tempe"),
    ("pela", "Pela", "Kutai Kartanegara, Kalimantan Timur", "pengamatan pesut Mahakam di danau dan sungai",
     "menyusuri Sungai Pela dengan perahu kayu"),
    ("lamalera", "Lamalera", "Lembata, NTT", "tradisi perburuan paus secara adat dengan perahu layar",
     "melihat perahu peledang dan tenun ikat Lamalera"),
    ("cibuntu", "Cibuntu", "Kuningan, Jawa Barat", "mata air, kolam ikan dewa, dan situs purbakala",
     "berkemah dan mandi di pemandian alami"),
]
VILLAGE_TEMPLATES = [
    "Desa Wisata {village} di {regency} dikenal dengan {known}. Pengunjung dapat {act}. Homestay milik warga tersedia dengan tarif terjangkau, dan pemandu lokal siap menemani.",
    "{village}, {regency}: {known}. Di sini wisatawan bisa {act}. Pengelola desa wisata menyarankan datang pada pagi hari dan memakai pakaian yang sopan.",
    "Berkunjung ke Desa {village} ({regency}) berarti menikmati {known}. Kegiatan favorit: {act}. Tiket masuk dikelola kelompok sadar wisata dan hasilnya untuk kas desa.",
]

JOBS = [
    ("barista", "Barista", "kafe", "Bandung", "membuat minuman kopi espresso dan manual brew, menjaga kebersihan bar",
     "pengalaman minimal enam bulan, ramah, bersedia kerja bergilir"),
    ("admin-olshop", "Admin Toko Online", "toko daring", "Surabaya", "mengunggah produk ke marketplace, membalas chat pembeli, dan merekap pesanan",
     "menguasai spreadsheet, teliti, fast response"),
    ("kurir", "Kurir Motor", "jasa pengiriman", "Bekasi", "mengantar paket di wilayah Bekasi dan sekitarnya",
     "memiliki SIM C dan motor sendiri, paham jalan"),
    ("web-developer", "Web Developer PHP", "agensi digital", "Yogyakarta", "mengembangkan situs klien dengan Laravel dan memelihara server",
     "paham PHP, MySQL, dan Git; portofolio wajib"),
    ("guru-les", "Guru Les Matematika SD", "lembaga bimbingan belajar", "Depok", "mengajar matematika kelas 4 sampai 6 secara privat dan kelompok",
     "lulusan pendidikan matematika, sabar menghadapi anak"),
    ("perawat", "Perawat Klinik", "klinik pratama", "Makassar", "membantu dokter, melakukan tindakan keperawatan, dan mencatat rekam medis",
     "memiliki STR aktif, lulusan D3 atau S1 keperawatan"),
    ("akuntan", "Staf Akuntansi", "perusahaan distribusi", "Semarang", "mencatat transaksi harian, menyusun laporan keuangan bulanan, dan mengurus pajak",
     "lulusan akuntansi, paham brevet pajak A dan B"),
    ("koki", "Juru Masak Masakan Padang", "rumah makan", "Jakarta Timur", "memasak rendang, gulai, dan sambal hijau untuk rumah makan",
     "pengalaman di dapur masakan Minang minimal dua tahun"),
    ("desainer", "Desainer Grafis", "percetakan", "Malang", "membuat desain kemasan, brosur, dan konten media sosial",
     "menguasai Illustrator dan Photoshop"),
    ("sales", "Sales Lapangan", "distributor air minum", "Medan", "menawarkan produk ke toko dan kantor serta menjaga hubungan pelanggan",
     "komunikatif, memiliki kendaraan, target oriented"),
    ("customer-service", "Customer Service Bank", "bank daerah", "Pekanbaru", "melayani pembukaan rekening dan keluhan nasabah",
     "lulusan S1, berpenampilan menarik, usia maksimal 27 tahun"),
    ("content-writer", "Penulis Konten SEO", "media daring", "remote", "menulis artikel SEO berbahasa Indonesia tentang teknologi dan gaya hidup",
     "tulisan rapi sesuai PUEBI, paham riset kata kunci"),
    ("teknisi-ac", "Teknisi AC", "jasa servis elektronik", "Tangerang", "memasang, mencuci, dan memperbaiki AC rumah tangga",
     "berpengalaman, memiliki sertifikat pelatihan teknisi pendingin"),
    ("driver", "Sopir Pribadi", "keluarga", "Jakarta Selatan", "mengantar anggota keluarga dan merawat mobil",
     "SIM A aktif, jujur, tidak merokok"),
]
JOB_TEMPLATES = [
    "Dibutuhkan segera {role} untuk {company} di {city}. Tugas: {tasks}. Syarat: {req}. Kirim lamaran dan CV melalui surel sebelum akhir bulan.",
    "Lowongan {role} ({city}). Sebuah {company} membuka kesempatan bergabung. Tanggung jawab utama: {tasks}. Kualifikasi: {req}. Gaji sesuai UMK plus insentif.",
    "{company} di {city} mencari {role}. Anda akan {tasks}. Kami mencari kandidat dengan kualifikasi berikut: {req}. Lamaran diterima via WhatsApp dan surel.",
]


def _slug(text: str) -> str:
    return "-".join("".join(c for c in w if c.isalnum()) for w in text.lower().split())


def _rupiah(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def templated_documents(seed: int = 11) -> list[tuple[str, str, str]]:
    """Every templated document as (key, title, text), in a stable order."""
    rnd = random.Random(seed)
    docs: list[tuple[str, str, str]] = []
    for slug, name, _kind, made, city, sizes, points in PRODUCTS:
        for size, price in sizes:
            key = f"prod-{slug}" + ("" if len(sizes) == 1 else "-" + _slug(size))
            text = " ".join([
                rnd.choice(PRODUCT_OPENINGS).format(name=name, made=made, city=city),
                rnd.choice(PRODUCT_MIDDLES).format(points=", ".join(points)),
                rnd.choice(PRODUCT_CLOSINGS).format(size=size, price=_rupiah(price)),
            ])
            docs.append((key, f"{name} {size}", text))
    for e_slug, title, sentences in EVENTS:
        for city, venue in rnd.sample(CITIES, 6):
            date = rnd.choice(DATES)
            body = [s.format(city=city, venue=venue, date=date) for s in sentences]
            docs.append((f"event-{e_slug}-{city.lower()}", title.format(city=city), " ".join(body)))
    for slug, village, regency, known, act in VILLAGES:
        text = rnd.choice(VILLAGE_TEMPLATES).format(village=village, regency=regency, known=known, act=act)
        docs.append((f"desa-{slug}", f"Desa Wisata {village}", text))
    for slug, role, company, city, tasks, req in JOBS:
        text = rnd.choice(JOB_TEMPLATES).format(role=role, company=company, city=city, tasks=tasks, req=req)
        text = text[0].upper() + text[1:]
        docs.append((f"job-{slug}", f"Lowongan {role} - {city}", text))
    return docs
