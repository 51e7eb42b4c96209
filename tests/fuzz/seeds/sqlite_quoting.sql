INSERT INTO [items] VALUES(1,'a',1,NULL);
INSERT INTO `items` (`id`,[name],"price",total) VALUES(2,'b',2,NULL);
INSERT INTO "excluded" VALUES(1,'conflict target named excluded');
INSERT INTO ITEMS VALUES(3,'case-insensitive',3,NULL);
INSERT INTO "tab""le" VALUES(1);
