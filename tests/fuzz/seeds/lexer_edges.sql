SELECT 12abc;
SELECT .5e+10, 1.e5, 0x1F, 1e, 3.;
SELECT a::b, c : d, e[1], f.g, "" , [], `x`;
SELECT 'unterminated ;
