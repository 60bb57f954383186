-- The Audio Tài Lộc demo data: products and orders (what the digest checks compare).
CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, name text NOT NULL, price_vnd bigint NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, product_id int REFERENCES products(id), customer text NOT NULL);
CREATE INDEX IF NOT EXISTS orders_product ON orders (product_id);
TRUNCATE orders, products;
INSERT INTO products VALUES (1, 'Loa Bluetooth', 1500000), (2, 'Tai nghe', 800000), (3, 'Amply', 4200000);
INSERT INTO orders VALUES (1, 1, 'Le Van C'), (2, 3, 'Pham Thi D');
