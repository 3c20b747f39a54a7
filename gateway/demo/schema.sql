-- AWCMS-shaped demo schema (a subset of AWCMS's Supabase schema, same names and types).
-- In production AWCMS owns these tables; awsm only reads them.

CREATE TABLE IF NOT EXISTS tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    domain      text UNIQUE,
    host        text,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'archived')),
    locale      text NOT NULL DEFAULT 'id',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE IF NOT EXISTS categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    name        text NOT NULL,
    slug        text NOT NULL,
    type        text NOT NULL DEFAULT 'blog',
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE IF NOT EXISTS blogs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants(id),
    title              text NOT NULL,
    slug               text NOT NULL,
    content            text,
    excerpt            text,
    featured_image     text,
    status             text NOT NULL DEFAULT 'draft',
    published_at       timestamptz,
    deleted_at         timestamptz,
    category_id        uuid REFERENCES categories(id),
    tags               text[] NOT NULL DEFAULT '{}',
    is_active          boolean NOT NULL DEFAULT true,
    is_public          boolean NOT NULL DEFAULT true,
    views              integer NOT NULL DEFAULT 0,
    workflow_state     text NOT NULL DEFAULT 'draft',
    puck_layout_jsonb  jsonb,
    meta_title         text,
    meta_description   text,
    meta_keywords      text,
    language           text,
    author_id          uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS pages (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants(id),
    title              text NOT NULL,
    slug               text NOT NULL,
    content            text,
    content_published  jsonb,
    excerpt            text,
    featured_image     text,
    status             text NOT NULL DEFAULT 'draft',
    page_type          text NOT NULL DEFAULT 'regular',
    parent_id          uuid REFERENCES pages(id),
    published_at       timestamptz,
    deleted_at         timestamptz,
    category_id        uuid REFERENCES categories(id),
    tags               text[] NOT NULL DEFAULT '{}',
    is_active          boolean NOT NULL DEFAULT true,
    is_public          boolean NOT NULL DEFAULT true,
    views              integer NOT NULL DEFAULT 0,
    workflow_state     text NOT NULL DEFAULT 'draft',
    puck_layout_jsonb  jsonb,
    meta_title         text,
    meta_description   text,
    language           text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants(id),
    name            text NOT NULL,
    slug            text NOT NULL,
    description     text,
    price           numeric(14, 2) NOT NULL DEFAULT 0,
    images          jsonb NOT NULL DEFAULT '[]',
    featured_image  text,
    sku             text,
    stock           integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'draft',  -- draft | active | out_of_stock | archived
    is_available    boolean NOT NULL DEFAULT true,
    tags            text[] NOT NULL DEFAULT '{}',
    category_id     uuid REFERENCES categories(id),
    published_at    timestamptz,
    deleted_at      timestamptz,
    language        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS files (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants(id),
    name         text NOT NULL,
    file_path    text NOT NULL,
    file_type    text,
    file_size    bigint,
    bucket_name  text NOT NULL DEFAULT 'public',
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);

CREATE INDEX IF NOT EXISTS blogs_tenant_idx ON blogs (tenant_id);
CREATE INDEX IF NOT EXISTS blogs_category_idx ON blogs (category_id);
CREATE INDEX IF NOT EXISTS blogs_published_at_idx ON blogs (published_at);
CREATE INDEX IF NOT EXISTS pages_tenant_idx ON pages (tenant_id);
CREATE INDEX IF NOT EXISTS pages_category_idx ON pages (category_id);
CREATE INDEX IF NOT EXISTS pages_published_at_idx ON pages (published_at);
CREATE INDEX IF NOT EXISTS products_tenant_idx ON products (tenant_id);
CREATE INDEX IF NOT EXISTS products_category_idx ON products (category_id);
CREATE INDEX IF NOT EXISTS products_published_at_idx ON products (published_at);
CREATE INDEX IF NOT EXISTS categories_tenant_idx ON categories (tenant_id);
